/**
 * Improved precision and recall (Kynkäänniemi et al., 2019) in the classifier's feature space:
 * FID folds two failures into one number, samples unlike any real image and real images unlike
 * any sample; these two numbers keep them apart.
 *   precision: the share of samples inside the real manifold, the union of balls around each
 *              real feature with radius its distance to its k-th nearest real neighbour;
 *   recall:    the share of real images inside the samples' manifold, built the same way.
 * A model that draws a few typical images per class scores high precision and low recall; one
 * that draws broken but varied images, the reverse. Both depend on the set sizes (a ball shrinks
 * as its set grows), so compare only numbers with the same N and M; the paper uses N = M.
 */
import * as tf from '@tensorflow/tfjs'
import { InsufficientSamplesError } from './errors.js'

export interface PrecisionRecall {
  precision: number
  recall: number
  /** Neighbour rank of the radii. */
  k: number
}

/** Rows of `a` scored against `b` per tfjs call: 1 000 x M distances at a time. */
const ROWS_PER_CALL = 1000

/**
 * `real` [M, dim] and `samples` [N, dim] features, row-major. @throws InsufficientSamplesError
 * when either set has no more than k rows (no k-th neighbour).
 */
export function precisionRecall (
  real: Float32Array, samples: Float32Array, dim: number, k = 3
): PrecisionRecall {
  const M = real.length / dim
  const N = samples.length / dim
  if (!Number.isInteger(M) || !Number.isInteger(N) || M <= k || N <= k) {
    throw new InsufficientSamplesError(`precision and recall need more than ${k} real and sampled features each`)
  }
  const realRadii = kthNeighbourDistances(real, dim, k)
  const sampleRadii = kthNeighbourDistances(samples, dim, k)
  return {
    precision: shareInside(samples, real, realRadii, dim),
    recall: shareInside(real, samples, sampleRadii, dim),
    k
  }
}

/** Squared distances from rows [start, end) of `a` to every row of `b`: [end - start, rows of b]. */
function squaredDistances (a: Float32Array, start: number, end: number, b: Float32Array, dim: number): Float32Array {
  const distances = tf.tidy(() => {
    const x = tf.tensor2d(a.subarray(start * dim, end * dim), [end - start, dim])
    const y = tf.tensor2d(b, [b.length / dim, dim])
    const xx = tf.sum(tf.square(x), 1, true)                 // [R, 1]
    const yy = tf.reshape(tf.sum(tf.square(y), 1), [1, -1])  // [1, M]
    const d = tf.add(tf.sub(xx, tf.mul(tf.matMul(x, y, false, true), 2)), yy)
    return tf.relu(d)                                        // rounding can make a tiny negative
  })
  // Read outside tidy: tidy walks whatever it returns, a typed array element by element.
  const values = distances.dataSync() as Float32Array
  distances.dispose()
  return values
}

/** For each row of `set`, the squared distance to its k-th nearest other row. */
function kthNeighbourDistances (set: Float32Array, dim: number, k: number): Float32Array {
  const rows = set.length / dim
  const radii = new Float32Array(rows)
  const nearest = new Float64Array(k + 1)
  for (let start = 0; start < rows; start += ROWS_PER_CALL) {
    const end = Math.min(rows, start + ROWS_PER_CALL)
    const d = squaredDistances(set, start, end, set, dim)
    for (let r = start; r < end; r++) {
      // The k + 1 smallest, the row itself (distance 0) among them.
      nearest.fill(Infinity)
      const row = d.subarray((r - start) * rows, (r - start + 1) * rows)
      for (const v of row) {
        if (v >= nearest[k]) continue
        let i = k
        while (i > 0 && nearest[i - 1] > v) { nearest[i] = nearest[i - 1]; i-- }
        nearest[i] = v
      }
      radii[r] = nearest[k]
    }
  }
  return radii
}

/** The share of `points` within the radius of at least one row of `centres`. */
function shareInside (points: Float32Array, centres: Float32Array, radii: Float32Array, dim: number): number {
  const rows = points.length / dim
  const M = centres.length / dim
  let inside = 0
  for (let start = 0; start < rows; start += ROWS_PER_CALL) {
    const end = Math.min(rows, start + ROWS_PER_CALL)
    const d = squaredDistances(points, start, end, centres, dim)
    for (let r = 0; r < end - start; r++) {
      for (let c = 0; c < M; c++) {
        if (d[r * M + c] <= radii[c]) { inside++; break }
      }
    }
  }
  return inside / rows
}
