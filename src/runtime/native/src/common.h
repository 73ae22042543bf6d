// Shared helpers for the hddm native kernels: argument unpacking with type and size checks
// (a wrong call from JS must throw, never write out of bounds) and the CPU dispatch attribute.
#pragma once
#include <node_api.h>
#include <cstddef>
#include <cstdint>
#include <string>

// Hot loops are compiled twice on x86-64 GCC/Clang (baseline SSE2 and Haswell's AVX2+FMA) and
// picked at load time, so the binary runs on any x86-64 and builds unchanged on arm64.
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#define HDDM_DISPATCH __attribute__((target_clones("arch=haswell", "default")))
#else
#define HDDM_DISPATCH
#endif

namespace hddm {

class Args {
 public:
  Args(napi_env env, napi_callback_info info, size_t count);
  bool ok() const { return ok_; }
  napi_env env() const { return env_; }
  // A Float32Array argument with at least `min_length` elements (nullptr and a pending
  // exception otherwise). `nullable` accepts null/undefined and returns nullptr.
  float* f32(size_t i, size_t min_length, bool nullable = false);
  size_t f32_length(size_t i);
  const int32_t* i32(size_t i, size_t* length);
  double number(size_t i);
  int64_t integer(size_t i, int64_t min_value = 0);
  bool boolean(size_t i);
  std::string str(size_t i);
  // Throws a RangeError (if none is pending) and marks the call failed.
  void fail(const char* message);

 private:
  napi_env env_;
  napi_value argv_[16];
  size_t argc_ = 16;
  bool ok_ = true;
};

napi_value Undefined(napi_env env);

// Module parts: each registers its functions on `exports`.
void RegisterBlas(napi_env env, napi_value exports);
void RegisterElementwise(napi_env env, napi_value exports);
void RegisterLayout(napi_env env, napi_value exports);
void RegisterFused(napi_env env, napi_value exports);
void RegisterAttention(napi_env env, napi_value exports);
void RegisterAdam(napi_env env, napi_value exports);

void Export(napi_env env, napi_value exports, const char* name, napi_callback fn);

}  // namespace hddm
