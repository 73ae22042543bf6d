// BLAS found at run time: the addon declares the one prototype it needs instead of including a
// -dev package's cblas.h, and dlopen()s whichever library the JS side names.
#pragma once

namespace hddm {

// C[M,N] = alpha op(A) op(B) + beta C, row-major; lda/ldb/ldc are row strides.
void Sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc);

}  // namespace hddm
