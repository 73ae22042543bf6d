/**
 * Frechet distance between Gaussians fitted to two feature sets (FID when the features are a
 * classifier's penultimate activations):
 *
 *   d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr( (S1^1/2 S2 S1^1/2)^1/2 )
 *
 * The trace term is computed with symmetric square roots only: S1^1/2 from S1's
 * eigendecomposition, then the eigenvalues of the symmetric PSD product S1^1/2 S2 S1^1/2. This
 * equals tr((S1 S2)^1/2) exactly and, unlike a general sqrtm of the non-symmetric S1 S2, never
 * produces complex parts from rounding. Eigenvalues a hair below zero (rank-deficient
 * covariances when there are fewer samples than dimensions) are clamped to zero.
 * Everything is float64.
 */
import { symmetricEigen } from '../data/linalg.js'
import { InvalidArgumentError } from '../hddm-error.js'
import { InsufficientSamplesError } from './errors.js'

export interface FeatureStatistics {
  count: number
  dim: number
  mean: Float64Array
  /** Unbiased (n - 1) covariance, row-major [dim, dim]. */
  covariance: Float64Array
}

/** Mean and covariance of `count` rows of `dim` features. */
export function featureStatistics (features: Float32Array | Float64Array, dim: number): FeatureStatistics {
  const count = features.length / dim
  if (!Number.isInteger(count)) throw new InvalidArgumentError(`${features.length} values are not rows of ${dim}`)
  if (count < 2) throw new InsufficientSamplesError(`a covariance needs at least 2 samples, got ${count}`)
  const mean = new Float64Array(dim)
  for (let i = 0; i < count; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j]
  for (let j = 0; j < dim; j++) mean[j] /= count
  const covariance = new Float64Array(dim * dim)
  const centred = new Float64Array(dim)
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < dim; j++) centred[j] = features[i * dim + j] - mean[j]
    for (let a = 0; a < dim; a++) {
      const ca = centred[a]
      if (ca === 0) continue
      const row = a * dim
      for (let b = a; b < dim; b++) covariance[row + b] += ca * centred[b]
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = covariance[a * dim + b] / (count - 1)
      covariance[a * dim + b] = v
      covariance[b * dim + a] = v
    }
  }
  return { count, dim, mean, covariance }
}

/** The symmetric PSD square root of a symmetric matrix (negative eigenvalues clamped to 0). */
export function symmetricSqrt (m: Float64Array, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(m, n)
  const out = new Float64Array(n * n)
  for (let k = 0; k < n; k++) {
    const s = Math.sqrt(Math.max(0, values[k]))
    if (s === 0) continue
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k] * s
      if (vik === 0) continue
      for (let j = 0; j < n; j++) out[i * n + j] += vik * vectors[j * n + k]
    }
  }
  return out
}

/** tr((S1 S2)^1/2) through the symmetric product S1^1/2 S2 S1^1/2. */
export function traceSqrtProduct (s1: Float64Array, s2: Float64Array, n: number): number {
  return traceSqrtSandwich(symmetricSqrt(s1, n), s2, n)
}

/** tr((R S R)^1/2) for a symmetric root R: the product's asymmetry from rounding is averaged away first. */
function traceSqrtSandwich (root: Float64Array, s: Float64Array, n: number): number {
  const m = multiply(multiply(root, s, n), root, n)
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * (m[i * n + j] + m[j * n + i])
      m[i * n + j] = v
      m[j * n + i] = v
    }
  }
  const { values } = symmetricEigen(m, n)
  let trace = 0
  for (const v of values) trace += Math.sqrt(Math.max(0, v))
  return trace
}

export function frechetDistance (a: FeatureStatistics, b: FeatureStatistics): number {
  if (a.dim !== b.dim) throw new InvalidArgumentError(`feature dimensions differ: ${a.dim} vs ${b.dim}`)
  const n = a.dim
  let d = 0
  for (let j = 0; j < n; j++) d += (a.mean[j] - b.mean[j]) ** 2
  let trace = 0
  for (let j = 0; j < n; j++) trace += a.covariance[j * n + j] + b.covariance[j * n + j]
  // Rounding can leave a tiny negative distance between (nearly) identical sets.
  return Math.max(0, d + trace - 2 * traceSqrtProduct(a.covariance, b.covariance, n))
}

/**
 * The Frechet distance of many sample sets to one reference (a bootstrap's resamples), with the
 * reference's square root and trace computed once instead of per set.
 */
export function frechetDistanceTo (reference: FeatureStatistics): (stats: FeatureStatistics) => number {
  const n = reference.dim
  const root = symmetricSqrt(reference.covariance, n)
  let referenceTrace = 0
  for (let j = 0; j < n; j++) referenceTrace += reference.covariance[j * n + j]
  return (stats) => {
    if (stats.dim !== n) throw new InvalidArgumentError(`feature dimensions differ: ${stats.dim} vs ${n}`)
    let d = 0
    for (let j = 0; j < n; j++) d += (stats.mean[j] - reference.mean[j]) ** 2
    for (let j = 0; j < n; j++) d += stats.covariance[j * n + j]
    return Math.max(0, d + referenceTrace - 2 * traceSqrtSandwich(root, stats.covariance, n))
  }
}

function multiply (a: Float64Array, b: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n)
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]
      if (aik === 0) continue
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j]
    }
  }
  return out
}
