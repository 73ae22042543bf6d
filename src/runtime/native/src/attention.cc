// Multi-head scaled dot-product attention, heads as contiguous slices of the last axis:
// out[:, :, h] = softmax(q_h k_h^T / sqrt(dh)) v_h. The per-head operands are strided views of
// [B, T, D] rows (leading dimension D), so BLAS reads them in place with no split or copy.
// The backward pass recomputes the probabilities instead of keeping [B, H, T, S] per layer.
#include <cmath>
#include <vector>
#include "blas.h"
#include "common.h"
#include "vmath.h"

namespace hddm {
namespace {

struct Shape {
  int64_t batch, tq, tk, dim, heads, dh;
  float scale;
};

bool ReadShape(Args& args, size_t first, Shape* s) {
  s->batch = args.integer(first);
  s->tq = args.integer(first + 1);
  s->tk = args.integer(first + 2, 1);
  s->dim = args.integer(first + 3, 1);
  s->heads = args.integer(first + 4, 1);
  if (args.ok() && s->dim % s->heads != 0) args.fail("dim must be divisible by heads");
  if (!args.ok()) return false;
  s->dh = s->dim / s->heads;
  s->scale = 1.0f / std::sqrt(static_cast<float>(s->dh));
  return true;
}

// p [tq, tk] = softmax(scale q_h k_h^T) for one (batch, head).
void Probabilities(const Shape& s, const float* q, const float* k, float* p) {
  Sgemm(false, true, s.tq, s.tk, s.dh, s.scale, q, s.dim, k, s.dim, 0.0f, p, s.tk);
  for (int64_t r = 0; r < s.tq; r++) {
    float* row = p + r * s.tk;
    float mx = row[0];
    for (int64_t c = 1; c < s.tk; c++) mx = row[c] > mx ? row[c] : mx;
    float sum = 0.0f;
    for (int64_t c = 0; c < s.tk; c++) {
      row[c] = FastExp(row[c] - mx);
      sum += row[c];
    }
    const float inv = 1.0f / sum;
    for (int64_t c = 0; c < s.tk; c++) row[c] *= inv;
  }
}

// attention(q, k, v, out, batch, tq, tk, dim, heads)
napi_value Attention(napi_env env, napi_callback_info info) {
  Args args(env, info, 9);
  Shape s;
  if (!ReadShape(args, 4, &s)) return nullptr;
  const float* q = args.f32(0, s.batch * s.tq * s.dim);
  const float* k = args.f32(1, s.batch * s.tk * s.dim);
  const float* v = args.f32(2, s.batch * s.tk * s.dim);
  float* o = args.f32(3, s.batch * s.tq * s.dim);
  if (!args.ok()) return nullptr;
  std::vector<float> p(s.tq * s.tk);
  for (int64_t b = 0; b < s.batch; b++) {
    for (int64_t h = 0; h < s.heads; h++) {
      const int64_t qo = b * s.tq * s.dim + h * s.dh, ko = b * s.tk * s.dim + h * s.dh;
      Probabilities(s, q + qo, k + ko, p.data());
      Sgemm(false, false, s.tq, s.dh, s.tk, 1.0f, p.data(), s.tk, v + ko, s.dim, 0.0f, o + qo, s.dim);
    }
  }
  return Undefined(env);
}

// attentionGrad(dy, q, k, v, dq, dk, dv, batch, tq, tk, dim, heads):
//   dv = p^T dy,  dp = dy v^T,  ds = p (dp - rowsum(dp p)),  dq = scale ds k,  dk = scale ds^T q
napi_value AttentionGrad(napi_env env, napi_callback_info info) {
  Args args(env, info, 12);
  Shape s;
  if (!ReadShape(args, 7, &s)) return nullptr;
  const int64_t nq = s.batch * s.tq * s.dim, nk = s.batch * s.tk * s.dim;
  const float* dy = args.f32(0, nq);
  const float* q = args.f32(1, nq);
  const float* k = args.f32(2, nk);
  const float* v = args.f32(3, nk);
  float* dq = args.f32(4, nq);
  float* dk = args.f32(5, nk);
  float* dv = args.f32(6, nk);
  if (!args.ok()) return nullptr;
  std::vector<float> p(s.tq * s.tk), dp(s.tq * s.tk);
  for (int64_t b = 0; b < s.batch; b++) {
    for (int64_t h = 0; h < s.heads; h++) {
      const int64_t qo = b * s.tq * s.dim + h * s.dh, ko = b * s.tk * s.dim + h * s.dh;
      Probabilities(s, q + qo, k + ko, p.data());
      Sgemm(true, false, s.tk, s.dh, s.tq, 1.0f, p.data(), s.tk, dy + qo, s.dim, 0.0f, dv + ko, s.dim);
      Sgemm(false, true, s.tq, s.tk, s.dh, 1.0f, dy + qo, s.dim, v + ko, s.dim, 0.0f, dp.data(), s.tk);
      for (int64_t r = 0; r < s.tq; r++) {
        float* dpr = dp.data() + r * s.tk;
        const float* pr = p.data() + r * s.tk;
        float dot = 0.0f;
        for (int64_t c = 0; c < s.tk; c++) dot += dpr[c] * pr[c];
        for (int64_t c = 0; c < s.tk; c++) dpr[c] = pr[c] * (dpr[c] - dot);
      }
      Sgemm(false, false, s.tq, s.dh, s.tk, s.scale, dp.data(), s.tk, k + ko, s.dim, 0.0f, dq + qo, s.dim);
      Sgemm(true, false, s.tk, s.dh, s.tq, s.scale, dp.data(), s.tk, q + qo, s.dim, 0.0f, dk + ko, s.dim);
    }
  }
  return Undefined(env);
}

}  // namespace

void RegisterAttention(napi_env env, napi_value exports) {
  Export(env, exports, "attention", Attention);
  Export(env, exports, "attentionGrad", AttentionGrad);
}

}  // namespace hddm
