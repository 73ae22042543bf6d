// cblas_sgemm through dlopen, and the matmul entry points built on it.
#include <dlfcn.h>
#include <algorithm>
#include <string>
#include "blas.h"
#include "common.h"

namespace hddm {
namespace {

// The CBLAS enum values are fixed by the standard (OpenBLAS, BLIS, MKL and Accelerate agree).
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);
using SetThreadsFn = void (*)(int);

SgemmFn g_sgemm = nullptr;
SetThreadsFn g_set_threads = nullptr;

napi_value LoadBlas(napi_env env, napi_callback_info info) {
  Args args(env, info, 1);
  if (!args.ok()) return nullptr;
  napi_value list = nullptr;
  size_t argc = 1;
  napi_get_cb_info(env, info, &argc, &list, nullptr, nullptr);
  uint32_t count = 0;
  if (napi_get_array_length(env, list, &count) != napi_ok) {
    napi_throw_type_error(env, nullptr, "expected an array of library names");
    return nullptr;
  }
  std::string errors;
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    char name[1024];
    size_t len = 0;
    napi_get_element(env, list, i, &item);
    if (napi_get_value_string_utf8(env, item, name, sizeof name, &len) != napi_ok) continue;
    void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      errors += std::string(errors.empty() ? "" : "; ") + dlerror();
      continue;
    }
    auto sgemm = reinterpret_cast<SgemmFn>(dlsym(handle, "cblas_sgemm"));
    if (sgemm == nullptr) {
      errors += std::string(errors.empty() ? "" : "; ") + name + ": no cblas_sgemm";
      dlclose(handle);
      continue;
    }
    g_sgemm = sgemm;
    g_set_threads = reinterpret_cast<SetThreadsFn>(dlsym(handle, "openblas_set_num_threads"));
    if (g_set_threads == nullptr) g_set_threads = reinterpret_cast<SetThreadsFn>(dlsym(handle, "bli_thread_set_num_threads"));
    napi_value result;
    napi_create_string_utf8(env, name, len, &result);
    return result;
  }
  napi_throw_error(env, nullptr, errors.empty() ? "no candidates" : errors.c_str());
  return nullptr;
}

napi_value SetBlasThreads(napi_env env, napi_callback_info info) {
  Args args(env, info, 1);
  int64_t threads = args.integer(0, 1);
  if (!args.ok()) return nullptr;
  if (g_set_threads != nullptr) g_set_threads(static_cast<int>(threads));
  return Undefined(env);
}

// batchMatMul(a, b, c, batchA, batchB, m, n, k, transA, transB): a batch of 1 broadcasts.
napi_value BatchMatMul(napi_env env, napi_callback_info info) {
  Args args(env, info, 10);
  const int64_t batch_a = args.integer(3, 1), batch_b = args.integer(4, 1);
  const int64_t m = args.integer(5), n = args.integer(6), k = args.integer(7);
  const bool ta = args.boolean(8), tb = args.boolean(9);
  const int64_t batch = std::max(batch_a, batch_b);
  if (args.ok() && batch_a != batch && batch_a != 1) args.fail("batch sizes do not broadcast");
  if (args.ok() && batch_b != batch && batch_b != 1) args.fail("batch sizes do not broadcast");
  const float* a = args.f32(0, batch_a * m * k);
  const float* b = args.f32(1, batch_b * k * n);
  float* c = args.f32(2, batch * m * n);
  if (!args.ok()) return nullptr;
  if (g_sgemm == nullptr) {
    napi_throw_error(env, nullptr, "BLAS not loaded");
    return nullptr;
  }
  const int lda = ta ? m : k, ldb = tb ? k : n;
  if (batch_b == 1 && !ta) {
    // One tall GEMM: the rows of every A[b] are consecutive and B is shared.
    Sgemm(false, tb, batch * m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
    return Undefined(env);
  }
  for (int64_t i = 0; i < batch; i++) {
    Sgemm(ta, tb, m, n, k, 1.0f, a + (batch_a == 1 ? 0 : i * m * k), lda,
          b + (batch_b == 1 ? 0 : i * k * n), ldb, 0.0f, c + i * m * n, n);
  }
  return Undefined(env);
}

// biasActivation(c, bias | null, n, activation): rows of c (length n) += bias, then
// activation 0 = linear, 1 = relu; in place.
napi_value BiasActivation(napi_env env, napi_callback_info info) {
  Args args(env, info, 4);
  const int64_t n = args.integer(2, 1);
  const int64_t activation = args.integer(3);
  const size_t total = args.f32_length(0);
  float* c = args.f32(0, 0);
  const float* bias = args.f32(1, n, true);
  if (args.ok() && total % n != 0) args.fail("output length is not a multiple of the bias length");
  if (!args.ok()) return nullptr;
  const size_t rows = total / n;
  for (size_t r = 0; r < rows; r++) {
    float* row = c + r * n;
    if (bias != nullptr) for (int64_t j = 0; j < n; j++) row[j] += bias[j];
    if (activation == 1) for (int64_t j = 0; j < n; j++) row[j] = row[j] > 0.0f ? row[j] : 0.0f;
  }
  return Undefined(env);
}

}  // namespace

void Sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    // BLAS would leave C untouched with beta 0 on some libraries; define it as zeros.
    for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  g_sgemm(kRowMajor, trans_a ? kTrans : kNoTrans, trans_b ? kTrans : kNoTrans, m, n, k, alpha, a, lda,
          b, ldb, beta, c, ldc);
}

void RegisterBlas(napi_env env, napi_value exports) {
  Export(env, exports, "loadBlas", LoadBlas);
  Export(env, exports, "setBlasThreads", SetBlasThreads);
  Export(env, exports, "batchMatMul", BatchMatMul);
  Export(env, exports, "biasActivation", BiasActivation);
}

}  // namespace hddm
