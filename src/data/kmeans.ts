import { InvalidArgumentError } from '../errors.js'
import { Random } from './random.js'

/**
 * Weighted k-means (k-means++ start, Lloyd iterations) on Float64 points [n, d].
 * Deterministic: fixed loop orders, ties go to the lower index, and empty clusters are
 * re-seeded with the point farthest from its centroid (lowest index on ties).
 */
export interface KMeansOptions {
  k: number
  seed: number
  /** Per-point weights (default 1). */
  weights?: ArrayLike<number>
  /** Lloyd iterations at most; stops earlier when no assignment changes. */
  maxIterations?: number
  /** Independent seeded starts; the lowest weighted inertia wins (first on ties). */
  restarts?: number
  /** Called between iterations so long fits can yield or abort. */
  onIteration?: (iteration: number) => void | Promise<void>
}

export interface KMeansResult {
  /** [k, d] */
  centroids: Float64Array
  assignments: Int32Array
  /** Sum of the weights of each cluster's points. */
  weights: Float64Array
  inertia: number
  iterations: number
}

export async function kmeans (points: Float64Array, d: number, options: KMeansOptions): Promise<KMeansResult> {
  const n = points.length / d
  const { k, seed } = options
  if (!Number.isInteger(n) || !Number.isInteger(d) || d < 1) throw new InvalidArgumentError(`points length ${points.length} is not a multiple of d=${d}`)
  if (!Number.isInteger(k) || k < 1 || k > n) throw new InvalidArgumentError(`k must be an integer in [1, ${n}], got ${k}`)
  const weights = options.weights ?? new Float64Array(n).fill(1)
  if (weights.length !== n) throw new InvalidArgumentError(`${weights.length} weights for ${n} points`)
  let best: KMeansResult | undefined
  for (let r = 0; r < (options.restarts ?? 1); r++) {
    const result = await lloyd(points, n, d, k, weights, Random.derive(seed, `kmeans/${r}`), options)
    if (best === undefined || result.inertia < best.inertia) best = result
  }
  return best!
}

/** Index of the nearest centroid and its squared distance; partial sums stop early once worse. */
export function nearest (points: Float64Array, p: number, centroids: Float64Array, k: number, d: number): [number, number] {
  let bestJ = 0
  let bestD = Infinity
  const po = p * d
  for (let j = 0; j < k; j++) {
    const co = j * d
    let s = 0
    for (let t = 0; t < d && s < bestD; t++) {
      const diff = points[po + t] - centroids[co + t]
      s += diff * diff
    }
    if (s < bestD) {
      bestD = s
      bestJ = j
    }
  }
  return [bestJ, bestD]
}

async function lloyd (points: Float64Array, n: number, d: number, k: number, w: ArrayLike<number>, rng: Random, options: KMeansOptions): Promise<KMeansResult> {
  const centroids = plusPlus(points, n, d, k, w, rng)
  const assignments = new Int32Array(n).fill(-1)
  const dist = new Float64Array(n)
  const sums = new Float64Array(k * d)
  const mass = new Float64Array(k)
  const maxIterations = options.maxIterations ?? 50
  let iterations = 0
  for (; iterations < maxIterations; iterations++) {
    let changed = 0
    for (let p = 0; p < n; p++) {
      const [j, dj] = nearest(points, p, centroids, k, d)
      if (j !== assignments[p]) changed++
      assignments[p] = j
      dist[p] = dj
    }
    if (changed === 0) break
    sums.fill(0)
    mass.fill(0)
    for (let p = 0; p < n; p++) {
      const j = assignments[p]
      const wp = w[p]
      mass[j] += wp
      for (let t = 0; t < d; t++) sums[j * d + t] += wp * points[p * d + t]
    }
    for (let j = 0; j < k; j++) {
      if (mass[j] > 0) {
        for (let t = 0; t < d; t++) centroids[j * d + t] = sums[j * d + t] / mass[j]
        continue
      }
      // Empty cluster: move it onto the farthest point, which then no longer counts as far.
      let far = 0
      for (let p = 1; p < n; p++) if (dist[p] > dist[far]) far = p
      centroids.set(points.subarray(far * d, (far + 1) * d), j * d)
      dist[far] = 0
    }
    await options.onIteration?.(iterations)
  }
  const mass2 = new Float64Array(k)
  let inertia = 0
  for (let p = 0; p < n; p++) {
    const [j, dj] = nearest(points, p, centroids, k, d)
    assignments[p] = j
    mass2[j] += w[p]
    inertia += w[p] * dj
  }
  return { centroids, assignments, weights: mass2, inertia, iterations }
}

/** k-means++ seeding with weights: P(point) proportional to weight * squared distance. */
function plusPlus (points: Float64Array, n: number, d: number, k: number, w: ArrayLike<number>, rng: Random): Float64Array {
  const centroids = new Float64Array(k * d)
  const closest = new Float64Array(n).fill(Infinity)
  let chosen = pick(Float64Array.from({ length: n }, (_, p) => w[p]), rng)
  for (let j = 0; j < k; j++) {
    centroids.set(points.subarray(chosen * d, (chosen + 1) * d), j * d)
    if (j === k - 1) break
    const score = new Float64Array(n)
    for (let p = 0; p < n; p++) {
      let s = 0
      for (let t = 0; t < d; t++) {
        const diff = points[p * d + t] - centroids[j * d + t]
        s += diff * diff
      }
      if (s < closest[p]) closest[p] = s
      score[p] = w[p] * closest[p]
    }
    chosen = pick(score, rng)
  }
  return centroids
}

/** Index drawn with probability proportional to score (prefix sums in index order). */
function pick (score: Float64Array, rng: Random): number {
  let total = 0
  for (let i = 0; i < score.length; i++) total += score[i]
  // All points coincide with chosen centroids: take the first point not yet at distance 0, else 0.
  if (!(total > 0)) return Math.max(0, score.findIndex(s => s > 0))
  const target = rng.nextFloat() * total
  let acc = 0
  for (let i = 0; i < score.length; i++) {
    acc += score[i]
    if (acc > target && score[i] > 0) return i
  }
  for (let i = score.length - 1; i >= 0; i--) if (score[i] > 0) return i
  return 0
}
