// Fused model ops and their gradients: GELU (tanh approximation) and LayerNorm without affine
// followed by AdaLN modulation, LN(x) * (1 + scale[b]) + shift[b].
#include <algorithm>
#include <cmath>
#include <vector>
#include "common.h"
#include "vmath.h"

namespace hddm {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;

HDDM_DISPATCH void GeluForward(const float* x, float* o, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    o[i] = 0.5f * v * (1.0f + FastTanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v)));
  }
}

HDDM_DISPATCH void GeluBackward(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const float th = FastTanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v));
    const float dinner = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * v * v);
    dx[i] = dy[i] * (0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * dinner);
  }
}

// gelu(x, out)
napi_value Gelu(napi_env env, napi_callback_info info) {
  Args args(env, info, 2);
  const size_t n = args.f32_length(0);
  const float* x = args.f32(0, 0);
  float* o = args.f32(1, n);
  if (!args.ok()) return nullptr;
  GeluForward(x, o, static_cast<int64_t>(n));
  return Undefined(env);
}

// geluGrad(x, dy, dx)
napi_value GeluGrad(napi_env env, napi_callback_info info) {
  Args args(env, info, 3);
  const size_t n = args.f32_length(0);
  const float* x = args.f32(0, 0);
  const float* dy = args.f32(1, n);
  float* dx = args.f32(2, n);
  if (!args.ok()) return nullptr;
  GeluBackward(x, dy, dx, static_cast<int64_t>(n));
  return Undefined(env);
}

// Mean and 1/sqrt(var + eps) of one row, two-pass in double as tf.moments computes them.
inline void RowStats(const float* row, int64_t d, float eps, float* mean, float* rstd) {
  double sum = 0.0;
  for (int64_t i = 0; i < d; i++) sum += row[i];
  const double mu = sum / static_cast<double>(d);
  double sq = 0.0;
  for (int64_t i = 0; i < d; i++) sq += (row[i] - mu) * (row[i] - mu);
  *mean = static_cast<float>(mu);
  *rstd = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(d) + eps));
}

HDDM_DISPATCH void LnModForward(const float* x, const float* shift, const float* scale, float* o,
                                int64_t batch, int64_t tokens, int64_t d, float eps) {
  for (int64_t b = 0; b < batch; b++) {
    const float* sh = shift + b * d;
    const float* sc = scale + b * d;
    for (int64_t t = 0; t < tokens; t++) {
      const float* row = x + (b * tokens + t) * d;
      float* out = o + (b * tokens + t) * d;
      float mean, rstd;
      RowStats(row, d, eps, &mean, &rstd);
      for (int64_t i = 0; i < d; i++) out[i] = (row[i] - mean) * rstd * (1.0f + sc[i]) + sh[i];
    }
  }
}

// With xhat = (x - mean) rstd and g = dy (1 + scale):
//   dx = rstd (g - mean(g) - xhat mean(g xhat)),  dshift[b] = sum_t dy,  dscale[b] = sum_t dy xhat.
HDDM_DISPATCH void LnModBackward(const float* dy, const float* x, const float* scale, float* dx,
                                 float* dshift, float* dscale, int64_t batch, int64_t tokens,
                                 int64_t d, float eps) {
  std::vector<float> xhat(d), g(d);
  std::vector<double> acc_shift(d), acc_scale(d);
  for (int64_t b = 0; b < batch; b++) {
    const float* sc = scale + b * d;
    std::fill(acc_shift.begin(), acc_shift.end(), 0.0);
    std::fill(acc_scale.begin(), acc_scale.end(), 0.0);
    for (int64_t t = 0; t < tokens; t++) {
      const int64_t base = (b * tokens + t) * d;
      const float* row = x + base;
      const float* dyr = dy + base;
      float mean, rstd;
      RowStats(row, d, eps, &mean, &rstd);
      double sum_g = 0.0, sum_gx = 0.0;
      for (int64_t i = 0; i < d; i++) {
        xhat[i] = (row[i] - mean) * rstd;
        g[i] = dyr[i] * (1.0f + sc[i]);
        sum_g += g[i];
        sum_gx += g[i] * xhat[i];
        acc_shift[i] += dyr[i];
        acc_scale[i] += dyr[i] * xhat[i];
      }
      const float mean_g = static_cast<float>(sum_g / d), mean_gx = static_cast<float>(sum_gx / d);
      float* dxr = dx + base;
      for (int64_t i = 0; i < d; i++) dxr[i] = rstd * (g[i] - mean_g - xhat[i] * mean_gx);
    }
    for (int64_t i = 0; i < d; i++) {
      dshift[b * d + i] = static_cast<float>(acc_shift[i]);
      dscale[b * d + i] = static_cast<float>(acc_scale[i]);
    }
  }
}

// layerNormModulate(x, shift, scale, out, batch, tokens, dim, eps)
napi_value LayerNormModulate(napi_env env, napi_callback_info info) {
  Args args(env, info, 8);
  const int64_t batch = args.integer(4), tokens = args.integer(5), d = args.integer(6, 1);
  const float eps = static_cast<float>(args.number(7));
  const float* x = args.f32(0, batch * tokens * d);
  const float* shift = args.f32(1, batch * d);
  const float* scale = args.f32(2, batch * d);
  float* o = args.f32(3, batch * tokens * d);
  if (!args.ok()) return nullptr;
  LnModForward(x, shift, scale, o, batch, tokens, d, eps);
  return Undefined(env);
}

// layerNormModulateGrad(dy, x, scale, dx, dshift, dscale, batch, tokens, dim, eps)
napi_value LayerNormModulateGrad(napi_env env, napi_callback_info info) {
  Args args(env, info, 10);
  const int64_t batch = args.integer(6), tokens = args.integer(7), d = args.integer(8, 1);
  const float eps = static_cast<float>(args.number(9));
  const float* dy = args.f32(0, batch * tokens * d);
  const float* x = args.f32(1, batch * tokens * d);
  const float* scale = args.f32(2, batch * d);
  float* dx = args.f32(3, batch * tokens * d);
  float* dshift = args.f32(4, batch * d);
  float* dscale = args.f32(5, batch * d);
  if (!args.ok()) return nullptr;
  LnModBackward(dy, x, scale, dx, dshift, dscale, batch, tokens, d, eps);
  return Undefined(env);
}

}  // namespace

void RegisterFused(napi_env env, napi_value exports) {
  Export(env, exports, "gelu", Gelu);
  Export(env, exports, "geluGrad", GeluGrad);
  Export(env, exports, "layerNormModulate", LayerNormModulate);
  Export(env, exports, "layerNormModulateGrad", LayerNormModulateGrad);
}

}  // namespace hddm
