// Data movement (transpose, strided 2-D copies for split/concat) and row softmax.
#include <algorithm>
#include <cstring>
#include <vector>
#include "common.h"
#include "vmath.h"

namespace hddm {
namespace {

// [batch, rows, cols] -> [batch, cols, rows] in 32x32 tiles, so that both sides stay in cache.
void TransposeLastTwo(const float* x, float* o, int64_t batch, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 32;
  for (int64_t b = 0; b < batch; b++) {
    const float* xb = x + b * rows * cols;
    float* ob = o + b * rows * cols;
    for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
        for (int64_t c = c0; c < c1; c++) {
          for (int64_t r = r0; r < r1; r++) ob[c * rows + r] = xb[r * cols + c];
        }
      }
    }
  }
}

// transpose(x, out, shape, perm): shape and perm arrive coalesced (no two adjacent input axes
// that stay adjacent and in order).
napi_value Transpose(napi_env env, napi_callback_info info) {
  Args args(env, info, 4);
  size_t rank = 0, perm_rank = 0;
  const int32_t* shape = args.i32(2, &rank);
  const int32_t* perm = args.i32(3, &perm_rank);
  if (args.ok() && (rank == 0 || rank != perm_rank)) args.fail("shape and perm must have the same rank > 0");
  int64_t total = 1;
  std::vector<bool> seen(rank, false);
  for (size_t d = 0; args.ok() && d < rank; d++) {
    if (shape[d] <= 0 || perm[d] < 0 || static_cast<size_t>(perm[d]) >= rank || seen[perm[d]]) args.fail("bad shape or perm");
    else seen[perm[d]] = true;
    total *= shape[d];
  }
  const float* x = args.f32(0, total);
  float* o = args.f32(1, total);
  if (!args.ok()) return nullptr;

  std::vector<int64_t> in_stride(rank);
  in_stride[rank - 1] = 1;
  for (int d = static_cast<int>(rank) - 2; d >= 0; d--) in_stride[d] = in_stride[d + 1] * shape[d + 1];
  // Swap of the last two axes with the leading ones in place: the common batched case.
  bool leading_in_place = true;
  for (size_t d = 0; d + 2 < rank; d++) leading_in_place = leading_in_place && perm[d] == static_cast<int32_t>(d);
  if (rank >= 2 && leading_in_place && perm[rank - 2] == static_cast<int32_t>(rank - 1) && perm[rank - 1] == static_cast<int32_t>(rank - 2)) {
    TransposeLastTwo(x, o, total / (shape[rank - 1] * shape[rank - 2]), shape[rank - 2], shape[rank - 1]);
    return Undefined(env);
  }
  // General case: walk the output in order; the innermost output axis reads with one stride.
  std::vector<int64_t> out_shape(rank), stride(rank), index(rank, 0);
  for (size_t d = 0; d < rank; d++) {
    out_shape[d] = shape[perm[d]];
    stride[d] = in_stride[perm[d]];
  }
  const int64_t n = out_shape[rank - 1], step = stride[rank - 1];
  int64_t offset = 0;
  for (int64_t start = 0; start < total; start += n) {
    float* row = o + start;
    if (step == 1) std::memcpy(row, x + offset, n * sizeof(float));
    else for (int64_t i = 0; i < n; i++) row[i] = x[offset + i * step];
    for (int d = static_cast<int>(rank) - 2; d >= 0; d--) {
      offset += stride[d];
      if (++index[d] < out_shape[d]) break;
      offset -= stride[d] * out_shape[d];
      index[d] = 0;
    }
  }
  return Undefined(env);
}

HDDM_DISPATCH void SoftmaxRows(const float* x, float* o, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; r++) {
    const float* in = x + r * cols;
    float* out = o + r * cols;
    float mx = in[0];
    for (int64_t c = 1; c < cols; c++) mx = in[c] > mx ? in[c] : mx;
    float sum = 0.0f;
    for (int64_t c = 0; c < cols; c++) {
      out[c] = FastExp(in[c] - mx);
      sum += out[c];
    }
    const float inv = 1.0f / sum;
    for (int64_t c = 0; c < cols; c++) out[c] *= inv;
  }
}

// softmax(x, out, rows, cols)
napi_value Softmax(napi_env env, napi_callback_info info) {
  Args args(env, info, 4);
  const int64_t rows = args.integer(2), cols = args.integer(3, 1);
  const float* x = args.f32(0, rows * cols);
  float* o = args.f32(1, rows * cols);
  if (!args.ok()) return nullptr;
  SoftmaxRows(x, o, rows, cols);
  return Undefined(env);
}

// copy2d(src, srcOffset, srcStride, dst, dstOffset, dstStride, rows, cols)
napi_value Copy2d(napi_env env, napi_callback_info info) {
  Args args(env, info, 8);
  const int64_t src_offset = args.integer(1), src_stride = args.integer(2);
  const int64_t dst_offset = args.integer(4), dst_stride = args.integer(5);
  const int64_t rows = args.integer(6), cols = args.integer(7);
  if (args.ok() && rows > 0 && (cols > src_stride || cols > dst_stride)) args.fail("cols exceed a stride");
  const int64_t src_need = rows == 0 ? 0 : src_offset + (rows - 1) * src_stride + cols;
  const int64_t dst_need = rows == 0 ? 0 : dst_offset + (rows - 1) * dst_stride + cols;
  const float* src = args.f32(0, src_need);
  float* dst = args.f32(3, dst_need);
  if (!args.ok()) return nullptr;
  for (int64_t r = 0; r < rows; r++) {
    std::memcpy(dst + dst_offset + r * dst_stride, src + src_offset + r * src_stride, cols * sizeof(float));
  }
  return Undefined(env);
}

}  // namespace

void RegisterLayout(napi_env env, napi_value exports) {
  Export(env, exports, "transpose", Transpose);
  Export(env, exports, "softmax", Softmax);
  Export(env, exports, "copy2d", Copy2d);
}

}  // namespace hddm
