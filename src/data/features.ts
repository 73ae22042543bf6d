import { InvalidArgumentError } from '../hddm-error.js'
import { imageSize } from './dataset.js'
import { orthonormalizeColumns, symmetricEigen, symmetricTimes } from './linalg.js'
import { Random } from './random.js'
import type { Dataset } from './dataset.js'

/**
 * PCA of pixels, made deterministic by construction:
 * - the second moments are sums of products of small integers (uint8, or their pooled sums),
 *   exact in Float64, so the accumulation order cannot change them;
 * - the top subspace comes from a fixed number of subspace iterations from a seeded start,
 *   then Rayleigh-Ritz (Jacobi) orders the components by variance.
 * Images larger than MAX_PCA_DIMS values are average-pooled first (integer box sums).
 */
/**
 * What clustering works on: each image as a point in R^dims (float64, row-major [N, dims]),
 * computed bit-identically on every machine so that every peer derives the same clusters.
 */
export interface FeatureMap {
  readonly kind: 'pca' | 'encoder'
  readonly dims: number
  transform: (dataset: Dataset) => Float64Array
}

/** PCA coordinates as a feature map. */
export function pcaFeatureMap (pca: Pca): FeatureMap {
  return { kind: 'pca', dims: pca.components, transform: (dataset) => pcaTransform(pca, dataset) }
}

export interface PcaInit {
  components?: number
  /** Images used to estimate the covariance (a seeded subsample). */
  samples?: number
  iterations?: number
  seed?: number
}

export const PCA_DEFAULTS = { components: 32, samples: 5_000, iterations: 16, seed: 0 }
export const MAX_PCA_DIMS = 1024

export interface Pca {
  /** Box-pooling factor applied to the images before projection (1 = none). */
  pool: number
  /** Length of a pooled image vector. */
  dims: number
  components: number
  /** [dims] mean of the pooled vectors. */
  mean: Float64Array
  /** [dims, components] row-major, orthonormal columns, by decreasing variance. */
  basis: Float64Array
  /** Variance along each component. */
  variances: Float64Array
}

export function fitPca (dataset: Dataset, init: PcaInit = {}): Pca {
  const { components, samples, iterations, seed } = { ...PCA_DEFAULTS, ...init }
  const pool = poolFactor(dataset)
  const dims = pooledDims(dataset, pool)
  if (!Number.isInteger(components) || components < 1 || components > dims) {
    throw new InvalidArgumentError(`PCA components must be in [1, ${dims}], got ${components}`)
  }
  if (dataset.count === 0) throw new InvalidArgumentError('cannot fit PCA on an empty dataset')
  const m = Math.min(dataset.count, samples)
  const picked = Random.derive(seed, 'pca-samples').permutation(dataset.count).subarray(0, m).sort()

  // Exact integer sums: S1[i] = sum x_i, S2[i, j] = sum x_i x_j (upper triangle, i <= j).
  const s1 = new Float64Array(dims)
  const s2 = new Float64Array(dims * dims)
  const x = new Float64Array(dims)
  const nzIndex = new Int32Array(dims)
  const nzValue = new Float64Array(dims)
  for (const item of picked) {
    pooledVector(dataset, item, pool, x)
    let n = 0
    for (let i = 0; i < dims; i++) {
      if (x[i] === 0) continue
      nzIndex[n] = i
      nzValue[n++] = x[i]
    }
    for (let a = 0; a < n; a++) {
      const xi = nzValue[a]
      s1[nzIndex[a]] += xi
      const row = nzIndex[a] * dims
      for (let b = a; b < n; b++) s2[row + nzIndex[b]] += xi * nzValue[b]
    }
  }
  const mean = Float64Array.from(s1, v => v / m)
  // Work only on the values that vary in the sample (MNIST's blank border drops ~20% of them,
  // ~35% of the cost); the others get zero loadings.
  const active: number[] = []
  for (let i = 0; i < dims; i++) if (s2[i * dims + i] / m - mean[i] * mean[i] > 0) active.push(i)
  const a = active.length
  if (components > a) {
    const varying = `the ${a} pixel values that vary in the sample`
    throw new InvalidArgumentError(`PCA components (${components}) exceed ${varying}`)
  }
  const cov = new Float64Array(a * a)
  for (let u = 0; u < a; u++) {
    for (let v = u; v < a; v++) {
      const i = active[u]
      const j = active[v]
      const c = s2[i * dims + j] / m - mean[i] * mean[j]
      cov[u * a + v] = c
      cov[v * a + u] = c
    }
  }

  const rng = Random.derive(seed, 'pca-start')
  let q: Float64Array = Float64Array.from({ length: a * components }, () => rng.nextFloat() - 0.5)
  orthonormalizeColumns(q, a, components)
  for (let it = 0; it < iterations; it++) {
    q = symmetricTimes(cov, q, a, components)
    orthonormalizeColumns(q, a, components)
  }
  // Rayleigh-Ritz: rotate the subspace onto the eigenvectors of Q^T C Q.
  const cq = symmetricTimes(cov, q, a, components)
  const t = new Float64Array(components * components)
  for (let i = 0; i < components; i++) {
    for (let j = 0; j < components; j++) {
      let sum = 0
      for (let u = 0; u < a; u++) sum += q[u * components + i] * cq[u * components + j]
      t[i * components + j] = sum
    }
  }
  for (let i = 0; i < components; i++) {
    for (let j = i + 1; j < components; j++) {
      const average = (t[i * components + j] + t[j * components + i]) / 2
      t[i * components + j] = average
      t[j * components + i] = average
    }
  }
  const { values, vectors } = symmetricEigen(t, components)
  const basis = new Float64Array(dims * components)
  for (let u = 0; u < a; u++) {
    for (let c = 0; c < components; c++) {
      let sum = 0
      for (let k = 0; k < components; k++) sum += q[u * components + k] * vectors[k * components + c]
      basis[active[u] * components + c] = sum
    }
  }
  // Sign convention: the largest-magnitude entry of each component is positive.
  for (let c = 0; c < components; c++) {
    let best = 0
    for (let d = 0; d < dims; d++) {
      if (Math.abs(basis[d * components + c]) > Math.abs(basis[best * components + c])) best = d
    }
    if (basis[best * components + c] < 0) {
      for (let d = 0; d < dims; d++) basis[d * components + c] = -basis[d * components + c]
    }
  }
  return { pool, dims, components, mean, basis, variances: values }
}

/** [N, components] PCA coordinates of every image (Float64, row-major). */
export function pcaTransform (pca: Pca, dataset: Dataset): Float64Array {
  const { dims, components: r, basis } = pca
  if (pooledDims(dataset, pca.pool) !== dims) {
    const shape = `${dataset.width}x${dataset.height}x${dataset.channels}`
    throw new InvalidArgumentError(`PCA fitted on ${dims}-value images cannot project ${shape} images`)
  }
  // x - mean is dense even for sparse x, so project x sparsely and subtract the projected mean.
  const meanProj = new Float64Array(r)
  for (let d = 0; d < dims; d++) for (let c = 0; c < r; c++) meanProj[c] += pca.mean[d] * basis[d * r + c]
  const out = new Float64Array(dataset.count * r)
  const x = new Float64Array(dims)
  const acc = new Float64Array(r)
  for (let n = 0; n < dataset.count; n++) {
    pooledVector(dataset, n, pca.pool, x)
    acc.fill(0)
    for (let d = 0; d < dims; d++) {
      const v = x[d]
      if (v === 0) continue
      const o = d * r
      for (let c = 0; c < r; c++) acc[c] += v * basis[o + c]
    }
    for (let c = 0; c < r; c++) out[n * r + c] = acc[c] - meanProj[c]
  }
  return out
}

/** Smallest integer box size that brings an image to at most MAX_PCA_DIMS values. */
function poolFactor (ds: Dataset): number {
  let f = 1
  while (pooledDims(ds, f) > MAX_PCA_DIMS) f++
  return f
}

function pooledDims (ds: Pick<Dataset, 'width' | 'height' | 'channels'>, f: number): number {
  return Math.ceil(ds.width / f) * Math.ceil(ds.height / f) * ds.channels
}

/** Image `item` as a vector of integer box sums (HWC order over the pooled grid). */
function pooledVector (ds: Dataset, item: number, f: number, out: Float64Array): void {
  const size = imageSize(ds)
  const px = ds.pixels.subarray(item * size, (item + 1) * size)
  if (f === 1) {
    for (let i = 0; i < size; i++) out[i] = px[i]
    return
  }
  out.fill(0)
  const pw = Math.ceil(ds.width / f)
  const C = ds.channels
  for (let y = 0; y < ds.height; y++) {
    const py = Math.floor(y / f)
    for (let x = 0; x < ds.width; x++) {
      const o = (py * pw + Math.floor(x / f)) * C
      const s = (y * ds.width + x) * C
      for (let c = 0; c < C; c++) out[o + c] += px[s + c]
    }
  }
}
