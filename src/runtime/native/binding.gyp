{
  # Built by scripts/build-native.mjs (npm install). Portable flags only: the hot loops carry
  # their own AVX2 clones (HDDM_DISPATCH in src/common.h); BLAS is dlopen()ed at run time.
  "targets": [{
    "target_name": "hddm_native",
    "sources": ["src/common.cc", "src/blas.cc", "src/elementwise.cc", "src/layout.cc",
                "src/fused.cc", "src/attention.cc", "src/adam.cc"],
    "cflags_cc!": ["-fno-exceptions"],
    "cflags_cc": ["-std=c++17", "-O3", "-ffast-math", "-fno-finite-math-only", "-fno-math-errno"],
    "libraries": ["-ldl"],
    "xcode_settings": {
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffast-math", "-fno-finite-math-only"]
    }
  }]
}
