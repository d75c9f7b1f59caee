// CRC-32C (Castagnoli) with the crc32 instruction of SSE 4.2. The JavaScript table version
// (packages/core/src/checksum.ts) runs at ~0.7 GB/s; a redo-log record of a commit that
// rewrites a hash table holds hundreds of KiB, and its checksum was a tenth of the commit's
// CPU time. The instruction computes the same reflected polynomial (0x82F63B78), so results
// are bit-identical; core checks that on a known vector before using this at all.
//
// Exported only where the CPU has the instruction (`crc32cHardware()`); elsewhere JavaScript
// keeps computing every checksum.
#include "checksum.h"

#include <cstdint>
#include <cstring>

#include "common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <nmmintrin.h>
#define FERRITE_CRC32C_X86 1
#endif

namespace ferrite {

#ifdef FERRITE_CRC32C_X86
static bool HasSse42() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (ecx & bit_SSE4_2) != 0;
}

// Continues the register value `crc` (already inverted) over n bytes.
__attribute__((target("sse4.2"))) static uint32_t Crc32cHw(uint32_t crc, const uint8_t* p, size_t n) {
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    crc = _mm_crc32_u8(crc, *p++);
    n--;
  }
#if defined(__x86_64__)
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  crc = static_cast<uint32_t>(c);
#endif
  while (n > 0) {
    crc = _mm_crc32_u8(crc, *p++);
    n--;
  }
  return crc;
}
#endif

static bool Hardware() {
#ifdef FERRITE_CRC32C_X86
  static const bool has = HasSse42();
  return has;
#else
  return false;
#endif
}

static Napi::Value Crc32cHardware(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), Hardware()); }

// crc32c(bytes: Uint8Array, offset, length, seed) -> number. Every argument is checked before
// a byte is read: a range outside the array is EINVAL, never a read out of bounds.
static Napi::Value Crc32c(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Hardware()) {
    ThrowCode(env, "ENODEV", "crc32c: this CPU has no crc32 instruction");
    return Napi::Value();
  }
  if (info.Length() < 4 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowCode(env, "EINVAL", "crc32c: expects (Uint8Array, offset, length, seed)");
    return Napi::Value();
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  uint64_t offset = 0, length = 0, seed = 0;
  if (!ReadIndex(env, info[1], "crc32c", "", "offset", &offset)) return Napi::Value();
  if (!ReadIndex(env, info[2], "crc32c", "", "length", &length)) return Napi::Value();
  if (!ReadIndex(env, info[3], "crc32c", "", "seed", &seed)) return Napi::Value();
  const uint64_t size = bytes.ElementLength();  // 0 once the buffer is detached
  if (offset > size || length > size - offset || seed > 0xffffffffu) {
    ThrowCode(env, "EINVAL", "crc32c: offset " + std::to_string(offset) + " + length " + std::to_string(length) +
                                 " is outside the array of " + std::to_string(size) + " bytes (or seed is not a u32)");
    return Napi::Value();
  }
  uint32_t crc = ~static_cast<uint32_t>(seed);
#ifdef FERRITE_CRC32C_X86
  if (length > 0) crc = Crc32cHw(crc, bytes.Data() + offset, length);
#endif
  return Napi::Number::New(env, static_cast<double>(~crc));
}

void InitChecksum(Napi::Env env, Napi::Object exports) {
  exports.Set("crc32cHardware", Napi::Function::New(env, Crc32cHardware, "crc32cHardware"));
  exports.Set("crc32c", Napi::Function::New(env, Crc32c, "crc32c"));
}

}  // namespace ferrite
