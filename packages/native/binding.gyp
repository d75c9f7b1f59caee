{
  "targets": [
    {
      "target_name": "ferrite_native",
      "sources": ["addon/addon.cc", "addon/checksum.cc", "addon/common.cc", "addon/create-file.cc", "addon/fault-guard.cc", "addon/file-space.cc", "addon/file-io.cc", "addon/pins.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
