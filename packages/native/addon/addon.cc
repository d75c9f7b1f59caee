#include <napi.h>
// Placeholder: the real addon lands with issue 2.
static Napi::Object Init(Napi::Env env, Napi::Object exports) { return exports; }
NODE_API_MODULE(ferrite_native, Init)
