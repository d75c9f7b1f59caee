// CRC-32C with the CPU's crc32 instruction (SSE 4.2), for the JavaScript checksum of large
// inputs (a redo-log record of a big commit): see packages/core/src/checksum.ts.
#pragma once

#include <napi.h>

namespace ferrite {

void InitChecksum(Napi::Env env, Napi::Object exports);

}  // namespace ferrite
