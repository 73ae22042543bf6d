// Binary ops with broadcasting, unary ops, and reductions on tfjs cpu-backend buffers.
// Shapes arrive coalesced by the JS side (adjacent dims that broadcast alike are merged), so the
// innermost dimension is long and the inner loops vectorise.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>
#include "common.h"
#include "vmath.h"

namespace hddm {
namespace {

enum BinaryOp { kAdd, kSub, kMul, kDiv, kMax, kMin, kSquaredDifference, kBinaryOpCount };
enum UnaryOp { kNeg, kExp, kTanh, kSigmoid, kSqrt, kRsqrt, kSquare, kLog, kAbs, kRelu, kReciprocal, kUnaryOpCount };
enum ReduceOp { kSum, kMean, kMaxR, kMinR, kReduceOpCount };

template <int Op>
inline float Apply(float a, float b) {
  if constexpr (Op == kAdd) return a + b;
  if constexpr (Op == kSub) return a - b;
  if constexpr (Op == kMul) return a * b;
  if constexpr (Op == kDiv) return a / b;
  if constexpr (Op == kMax) return a > b ? a : b;
  if constexpr (Op == kMin) return a < b ? a : b;
  if constexpr (Op == kSquaredDifference) return (a - b) * (a - b);
  return 0.0f;
}

// One row of the innermost dimension: four stride patterns, the common three vectorise.
template <int Op>
HDDM_DISPATCH void Row(const float* a, const float* b, float* o, int64_t n, int64_t sa, int64_t sb) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) o[i] = Apply<Op>(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; i++) o[i] = Apply<Op>(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; i++) o[i] = Apply<Op>(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; i++) o[i] = Apply<Op>(a[i * sa], b[i * sb]);
  }
}

template <int Op>
void Binary(const float* a, const float* b, float* o, const int32_t* shape, const int32_t* sa,
            const int32_t* sb, int rank) {
  const int inner = rank - 1;
  const int64_t n = shape[inner];
  int64_t rows = 1;
  for (int d = 0; d < inner; d++) rows *= shape[d];
  std::vector<int64_t> index(rank, 0);
  int64_t offset_a = 0, offset_b = 0;
  for (int64_t r = 0; r < rows; r++) {
    Row<Op>(a + offset_a, b + offset_b, o + r * n, n, sa[inner], sb[inner]);
    // Odometer over the outer dimensions.
    for (int d = inner - 1; d >= 0; d--) {
      offset_a += sa[d];
      offset_b += sb[d];
      if (++index[d] < shape[d]) break;
      offset_a -= sa[d] * shape[d];
      offset_b -= sb[d] * shape[d];
      index[d] = 0;
    }
  }
}

using BinaryFn = void (*)(const float*, const float*, float*, const int32_t*, const int32_t*, const int32_t*, int);
const BinaryFn kBinary[kBinaryOpCount] = {Binary<kAdd>, Binary<kSub>, Binary<kMul>, Binary<kDiv>, Binary<kMax>, Binary<kMin>, Binary<kSquaredDifference>};

// Largest offset a strided walk reaches, to check that the inputs are long enough.
int64_t Extent(const int32_t* shape, const int32_t* strides, int rank) {
  int64_t last = 0;
  for (int d = 0; d < rank; d++) last += static_cast<int64_t>(shape[d] - 1) * strides[d];
  return last + 1;
}

// binary(op, a, b, out, shape, stridesA, stridesB)
napi_value BinaryEntry(napi_env env, napi_callback_info info) {
  Args args(env, info, 7);
  const int64_t op = args.integer(0);
  size_t rank = 0, rank_a = 0, rank_b = 0;
  const int32_t* shape = args.i32(4, &rank);
  const int32_t* sa = args.i32(5, &rank_a);
  const int32_t* sb = args.i32(6, &rank_b);
  if (args.ok() && (rank == 0 || rank != rank_a || rank != rank_b)) args.fail("shape and strides must have the same rank > 0");
  if (args.ok() && op >= kBinaryOpCount) args.fail("unknown binary op");
  int64_t total = 1;
  for (size_t d = 0; args.ok() && d < rank; d++) {
    if (shape[d] <= 0 || sa[d] < 0 || sb[d] < 0) args.fail("bad shape or strides");
    total *= shape[d];
  }
  const float* a = args.ok() ? args.f32(1, Extent(shape, sa, rank)) : nullptr;
  const float* b = args.ok() ? args.f32(2, Extent(shape, sb, rank)) : nullptr;
  float* o = args.f32(3, total);
  if (!args.ok()) return nullptr;
  kBinary[op](a, b, o, shape, sa, sb, static_cast<int>(rank));
  return Undefined(env);
}

template <int Op>
inline float ApplyUnary(float x) {
  if constexpr (Op == kNeg) return -x;
  if constexpr (Op == kExp) return FastExp(x);
  if constexpr (Op == kTanh) return FastTanh(x);
  if constexpr (Op == kSigmoid) return 1.0f / (1.0f + FastExp(-x));
  if constexpr (Op == kSqrt) return std::sqrt(x);
  if constexpr (Op == kRsqrt) return 1.0f / std::sqrt(x);
  if constexpr (Op == kSquare) return x * x;
  if constexpr (Op == kLog) return std::log(x);
  if constexpr (Op == kAbs) return std::fabs(x);
  if constexpr (Op == kRelu) return x > 0.0f ? x : 0.0f;
  if constexpr (Op == kReciprocal) return 1.0f / x;
  return 0.0f;
}

template <int Op>
HDDM_DISPATCH void Unary(const float* x, float* o, int64_t n) {
  for (int64_t i = 0; i < n; i++) o[i] = ApplyUnary<Op>(x[i]);
}

using UnaryFn = void (*)(const float*, float*, int64_t);
const UnaryFn kUnary[kUnaryOpCount] = {Unary<kNeg>, Unary<kExp>, Unary<kTanh>, Unary<kSigmoid>, Unary<kSqrt>, Unary<kRsqrt>, Unary<kSquare>, Unary<kLog>, Unary<kAbs>, Unary<kRelu>, Unary<kReciprocal>};

// unary(op, x, out)
napi_value UnaryEntry(napi_env env, napi_callback_info info) {
  Args args(env, info, 3);
  const int64_t op = args.integer(0);
  if (args.ok() && op >= kUnaryOpCount) args.fail("unknown unary op");
  const size_t n = args.f32_length(1);
  const float* x = args.f32(1, 0);
  float* o = args.f32(2, n);
  if (!args.ok()) return nullptr;
  kUnary[op](x, o, static_cast<int64_t>(n));
  return Undefined(env);
}

// x viewed as [outer, size, inner], reduced over `size`. Sums accumulate in double, as tfjs's
// JS kernels do, so that long reductions agree with them to float precision.
template <int Op>
void Reduce(const float* x, float* o, int64_t outer, int64_t size, int64_t inner) {
  std::vector<double> acc(inner);
  for (int64_t p = 0; p < outer; p++) {
    const float* block = x + p * size * inner;
    if constexpr (Op == kSum || Op == kMean) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t s = 0; s < size; s++) {
        const float* row = block + s * inner;
        for (int64_t i = 0; i < inner; i++) acc[i] += row[i];
      }
      const double scale = Op == kMean ? 1.0 / static_cast<double>(size) : 1.0;
      for (int64_t i = 0; i < inner; i++) o[p * inner + i] = static_cast<float>(acc[i] * scale);
    } else {
      float* out = o + p * inner;
      for (int64_t i = 0; i < inner; i++) out[i] = block[i];
      for (int64_t s = 1; s < size; s++) {
        const float* row = block + s * inner;
        for (int64_t i = 0; i < inner; i++) out[i] = Op == kMaxR ? (row[i] > out[i] ? row[i] : out[i]) : (row[i] < out[i] ? row[i] : out[i]);
      }
    }
  }
}

// Row reductions (inner == 1) get their own loop: one accumulator per row vectorises.
template <int Op>
void ReduceRows(const float* x, float* o, int64_t outer, int64_t size) {
  for (int64_t p = 0; p < outer; p++) {
    const float* row = x + p * size;
    if constexpr (Op == kSum || Op == kMean) {
      double acc = 0.0;
      for (int64_t s = 0; s < size; s++) acc += row[s];
      o[p] = static_cast<float>(Op == kMean ? acc / static_cast<double>(size) : acc);
    } else {
      float best = row[0];
      for (int64_t s = 1; s < size; s++) best = Op == kMaxR ? (row[s] > best ? row[s] : best) : (row[s] < best ? row[s] : best);
      o[p] = best;
    }
  }
}

// reduce(op, x, out, outer, size, inner)
napi_value ReduceEntry(napi_env env, napi_callback_info info) {
  Args args(env, info, 6);
  const int64_t op = args.integer(0);
  const int64_t outer = args.integer(3, 1), size = args.integer(4, 1), inner = args.integer(5, 1);
  if (args.ok() && op >= kReduceOpCount) args.fail("unknown reduce op");
  const float* x = args.f32(1, outer * size * inner);
  float* o = args.f32(2, outer * inner);
  if (!args.ok()) return nullptr;
  if (inner == 1) {
    switch (op) {
      case kSum: ReduceRows<kSum>(x, o, outer, size); break;
      case kMean: ReduceRows<kMean>(x, o, outer, size); break;
      case kMaxR: ReduceRows<kMaxR>(x, o, outer, size); break;
      default: ReduceRows<kMinR>(x, o, outer, size); break;
    }
  } else {
    switch (op) {
      case kSum: Reduce<kSum>(x, o, outer, size, inner); break;
      case kMean: Reduce<kMean>(x, o, outer, size, inner); break;
      case kMaxR: Reduce<kMaxR>(x, o, outer, size, inner); break;
      default: Reduce<kMinR>(x, o, outer, size, inner); break;
    }
  }
  return Undefined(env);
}

}  // namespace

void RegisterElementwise(napi_env env, napi_value exports) {
  Export(env, exports, "binary", BinaryEntry);
  Export(env, exports, "unary", UnaryEntry);
  Export(env, exports, "reduce", ReduceEntry);
}

}  // namespace hddm
