/**
 * The few dense Float64 routines PCA needs. Only +, -, *, / and sqrt (all correctly rounded in
 * IEEE 754, never fused in JS), with fixed loop orders: results are bit-identical on any machine.
 */

/** Orthonormalises the r columns of Q ([d, r], row-major) in place by modified Gram-Schmidt. */
export function orthonormalizeColumns (q: Float64Array, d: number, r: number): void {
  for (let j = 0; j < r; j++) {
    // A column that vanishes (data of rank < r) is replaced by e_0, e_1, ... until one survives.
    for (let attempt = 0; ; attempt++) {
      let before = 0
      for (let t = 0; t < d; t++) before += q[t * r + j] * q[t * r + j]
      for (let i = 0; i < j; i++) {
        let dot = 0
        for (let t = 0; t < d; t++) dot += q[t * r + i] * q[t * r + j]
        for (let t = 0; t < d; t++) q[t * r + j] -= dot * q[t * r + i]
      }
      let norm = 0
      for (let t = 0; t < d; t++) norm += q[t * r + j] * q[t * r + j]
      norm = Math.sqrt(norm)
      if (norm > 1e-9 * Math.sqrt(before) || attempt >= d) {
        for (let t = 0; t < d; t++) q[t * r + j] /= norm
        break
      }
      for (let t = 0; t < d; t++) q[t * r + j] = t === attempt ? 1 : 0
    }
  }
}

/** Y = A X for symmetric A [d, d] and X [d, r]. */
export function symmetricTimes (a: Float64Array, x: Float64Array, d: number, r: number): Float64Array {
  const y = new Float64Array(d * r)
  for (let i = 0; i < d; i++) {
    const row = i * d
    const yo = i * r
    for (let t = 0; t < d; t++) {
      const v = a[row + t]
      if (v === 0) continue
      const xo = t * r
      for (let j = 0; j < r; j++) y[yo + j] += v * x[xo + j]
    }
  }
  return y
}

/**
 * Eigen-decomposition of a small symmetric matrix (cyclic Jacobi, fixed sweep order).
 * Returns eigenvalues in descending order and eigenvectors as the columns of a row-major [n, n].
 */
export function symmetricEigen (
  m: Float64Array, n: number, sweeps = 50
): { values: Float64Array, vectors: Float64Array } {
  const a = Float64Array.from(m)
  const v = new Float64Array(n * n)
  for (let i = 0; i < n; i++) v[i * n + i] = 1
  for (let s = 0; s < sweeps; s++) {
    let off = 0
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q]
    if (off === 0) break
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]
        if (apq === 0) continue
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1))
        const c = 1 / Math.sqrt(t * t + 1)
        const sn = t * c
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]
          const akq = a[k * n + q]
          a[k * n + p] = c * akp - sn * akq
          a[k * n + q] = sn * akp + c * akq
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]
          const aqk = a[q * n + k]
          a[p * n + k] = c * apk - sn * aqk
          a[q * n + k] = sn * apk + c * aqk
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]
          const vkq = v[k * n + q]
          v[k * n + p] = c * vkp - sn * vkq
          v[k * n + q] = sn * vkp + c * vkq
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i] || i - j)
  const values = Float64Array.from(order, i => a[i * n + i])
  const vectors = new Float64Array(n * n)
  for (let c = 0; c < n; c++) for (let k = 0; k < n; k++) vectors[k * n + c] = v[k * n + order[c]]
  return { values, vectors }
}
