// See common.h.
#include "common.h"

#include <errno.h>
#include <string.h>

#include <cmath>

namespace ferrite {

napi_value MakeError(Napi::Env env, const char* code, const std::string& message) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr && !data->error_factory.IsEmpty()) {
    Napi::Value err =
        data->error_factory.Call({Napi::String::New(env, code), Napi::String::New(env, message)});
    if (env.IsExceptionPending()) return nullptr;  // the factory itself threw: propagate that
    return err;
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err.Value();
}

void ThrowCode(Napi::Env env, const char* code, const std::string& message) {
  napi_value err = MakeError(env, code, message);
  if (err != nullptr) napi_throw(env, err);
}

const char* CodeOfErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR: return "ENOENT";
    case EACCES:
    case EPERM:
    case EROFS:
    case ETXTBSY: return "EACCES";
    case EISDIR:
    case ENODEV:
    case ENXIO: return "ENODEV";
    case EWOULDBLOCK: return "EBUSY";
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case EOVERFLOW: return "ENOMEM";
    case ENOSPC:
    case EDQUOT: return "ENOSPC";
    case EEXIST: return "EEXIST";
    case EFBIG: return "ERANGE";
    case EIO: return "EIO";
    default: return "EINVAL";  // ELOOP (a symlink where none may be), ENAMETOOLONG, ...
  }
}

std::string Prefix(const char* op, const std::string& path) { return std::string(op) + "(" + path + "): "; }

void ThrowErrno(Napi::Env env, const char* op, const std::string& path, const std::string& what, int err) {
  ThrowCode(env, CodeOfErrno(err),
            Prefix(op, path) + what + ": " + strerror(err) + " (errno " + std::to_string(err) + ")");
}

bool ReadIndex(const Napi::Env& env, const Napi::Value& value, const char* op, const std::string& path,
               const char* name, uint64_t* out) {
  if (value.IsNumber()) {
    const double d = value.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d <= kMaxSafeInteger && std::floor(d) == d) {
      *out = static_cast<uint64_t>(d);
      return true;
    }
    ThrowCode(env, "EINVAL",
              Prefix(op, path) + name + " must be a non-negative safe integer, got " + std::to_string(d));
    return false;
  }
  ThrowCode(env, "EINVAL", Prefix(op, path) + name + " must be a number");
  return false;
}

bool ReadBool(const Napi::Env& env, const Napi::Value& value, const char* op, const std::string& path,
              const char* name, bool* out) {
  if (!value.IsBoolean()) {
    ThrowCode(env, "EINVAL", Prefix(op, path) + name + " must be a boolean");
    return false;
  }
  *out = value.As<Napi::Boolean>().Value();
  return true;
}

}  // namespace ferrite
