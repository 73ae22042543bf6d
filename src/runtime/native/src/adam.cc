// One Adam(W) step in place, as torch.optim.AdamW computes it:
//   p *= 1 - lr wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//   p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)       bc_i = 1 - beta_i^step
#include <cmath>
#include "common.h"

namespace hddm {
namespace {

HDDM_DISPATCH void AdamStep(float* p, const float* g, float* m, float* v, int64_t n, float lr,
                            float beta1, float beta2, float eps, float bc1, float bc2, float wd) {
  const float step = lr / bc1, inv_sqrt_bc2 = 1.0f / std::sqrt(bc2), decay = 1.0f - lr * wd;
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

// adam(p, g, m, v, lr, beta1, beta2, eps, bc1, bc2, weightDecay)
napi_value Adam(napi_env env, napi_callback_info info) {
  Args args(env, info, 11);
  const size_t n = args.f32_length(0);
  float* p = args.f32(0, 0);
  const float* g = args.f32(1, n);
  float* m = args.f32(2, n);
  float* v = args.f32(3, n);
  const float lr = static_cast<float>(args.number(4)), beta1 = static_cast<float>(args.number(5));
  const float beta2 = static_cast<float>(args.number(6)), eps = static_cast<float>(args.number(7));
  const float bc1 = static_cast<float>(args.number(8)), bc2 = static_cast<float>(args.number(9));
  const float wd = static_cast<float>(args.number(10));
  if (!args.ok()) return nullptr;
  AdamStep(p, g, m, v, static_cast<int64_t>(n), lr, beta1, beta2, eps, bc1, bc2, wd);
  return Undefined(env);
}

}  // namespace

void RegisterAdam(napi_env env, napi_value exports) {
  Export(env, exports, "adam", Adam);
}

}  // namespace hddm
