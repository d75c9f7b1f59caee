// What every part of the addon shares: the per-environment instance data, the error factory
// (every error thrown on purpose is a FerriteError with a stable code), errno mapping, and
// argument readers that validate before anything touches memory.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace ferrite {

// 2^53 - 1: the largest integer a JS number holds exactly.
constexpr double kMaxSafeInteger = 9007199254740991.0;

// Per environment (main thread or worker): deleted with the environment.
struct AddonData {
  Napi::FunctionReference mapping_constructor;
  Napi::FunctionReference error_factory;  // (code, message) => Error; set by the TS face
  Napi::FunctionReference file_constructor;
  Napi::FunctionReference queue_constructor;
  // The symbol under which a TS FileHandle keeps its native file (set by the TS face), so
  // that an I/O program can name files by their FileHandle.
  Napi::Reference<Napi::Value> file_key;
};

// The error `code` with `message`, made by the factory the TS face installed (a FerriteError),
// else a plain Error with a `code` property. Returns nullptr when the factory itself threw
// (the exception is then pending).
napi_value MakeError(Napi::Env env, const char* code, const std::string& message);

void ThrowCode(Napi::Env env, const char* code, const std::string& message);

// Maps an errno to one of ferrite's stable codes (for open, map, lock and sizing).
const char* CodeOfErrno(int err);

std::string Prefix(const char* op, const std::string& path);

void ThrowErrno(Napi::Env env, const char* op, const std::string& path, const std::string& what, int err);

// Reads a non-negative safe integer argument, or throws EINVAL naming it.
bool ReadIndex(const Napi::Env& env, const Napi::Value& value, const char* op, const std::string& path,
               const char* name, uint64_t* out);

bool ReadBool(const Napi::Env& env, const Napi::Value& value, const char* op, const std::string& path,
              const char* name, bool* out);

}  // namespace ferrite
