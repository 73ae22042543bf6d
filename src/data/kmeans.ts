import { InvalidArgumentError } from '../hddm-error.js'
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
  if (!Number.isInteger(n) || !Number.isInteger(d) || d < 1) {
    throw new InvalidArgumentError(`points length ${points.length} is not a multiple of d=${d}`)
  }
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new InvalidArgumentError(`k must be an integer in [1, ${n}], got ${k}`)
  }
  const weights = options.weights ?? new Float64Array(n).fill(1)
  if (weights.length !== n) throw new InvalidArgumentError(`${weights.length} weights for ${n} points`)
  let best: KMeansResult | undefined
  for (let r = 0; r < (options.restarts ?? 1); r++) {
    const result = await lloyd(points, n, d, k, weights, Random.derive(seed, `kmeans/${r}`), options)
    if (best === undefined || result.inertia < best.inertia) best = result
  }
  return best!
}

/**
 * Index of the nearest centroid (ties: lowest index); its squared distance goes to dist[p].
 * Starting from a guess (the previous assignment) lets partial sums stop early for most
 * centroids; the answer does not depend on the guess.
 */
export function nearest (
  points: Float64Array, p: number, centroids: Float64Array, k: number, d: number, dist: Float64Array, guess = 0
): number {
  const po = p * d
  let bestJ = guess
  let bestD = 0
  for (let t = 0; t < d; t++) {
    const diff = points[po + t] - centroids[guess * d + t]
    bestD += diff * diff
  }
  for (let j = 0; j < k; j++) {
    if (j === guess) continue
    const co = j * d
    let s = 0
    for (let t = 0; t < d && s <= bestD; t++) {
      const diff = points[po + t] - centroids[co + t]
      s += diff * diff
    }
    if (s < bestD || (s === bestD && j < bestJ)) {
      bestD = s
      bestJ = j
    }
  }
  dist[p] = bestD
  return bestJ
}

/**
 * Lloyd's iterations accelerated by Elkan's bounds: an upper bound on each point's distance to
 * its centroid and a lower bound per (point, centroid), kept valid through centroid moves by the
 * triangle inequality. Bounds only decide what to recompute; every comparison that changes an
 * assignment is made on an exact distance, so the result is the plain Lloyd fixed point.
 */
async function lloyd (
  points: Float64Array, n: number, d: number, k: number, w: ArrayLike<number>, rng: Random, options: KMeansOptions
): Promise<KMeansResult> {
  const centroids = plusPlus(points, n, d, k, w, rng)
  const assignments = new Int32Array(n)
  const upper = new Float64Array(n)
  const lower = new Float64Array(n * k)
  const gap = new Float64Array(k * k)
  const half = new Float64Array(k)
  const moved = new Float64Array(k)
  const sums = new Float64Array(k * d)
  const mass = new Float64Array(k)
  const dist = new Float64Array(n)
  for (let p = 0; p < n; p++) {
    let best = 0
    for (let j = 0; j < k; j++) {
      lower[p * k + j] = Math.sqrt(squaredDistance(points, p, centroids, j, d))
      if (lower[p * k + j] < lower[p * k + best]) best = j
    }
    assignments[p] = best
    upper[p] = lower[p * k + best]
  }
  const maxIterations = options.maxIterations ?? 50
  let iterations = 0
  for (; iterations < maxIterations; iterations++) {
    // Centroid geometry: gap[i, j] = d(c_i, c_j) / 2, half[i] = min over j of gap[i, j].
    half.fill(Infinity)
    for (let i = 0; i < k; i++) {
      for (let j = i + 1; j < k; j++) {
        const g = Math.sqrt(squaredDistance(centroids, i, centroids, j, d)) / 2
        gap[i * k + j] = gap[j * k + i] = g
        if (g < half[i]) half[i] = g
        if (g < half[j]) half[j] = g
      }
    }
    sums.fill(0)
    mass.fill(0)
    for (let p = 0; p < n; p++) {
      let a = assignments[p]
      if (upper[p] > half[a]) {
        let tight = false
        for (let j = 0; j < k; j++) {
          if (j === a || upper[p] <= lower[p * k + j] || upper[p] <= gap[a * k + j]) continue
          if (!tight) {
            upper[p] = lower[p * k + a] = Math.sqrt(squaredDistance(points, p, centroids, a, d))
            tight = true
            if (upper[p] <= lower[p * k + j] || upper[p] <= gap[a * k + j]) continue
          }
          const dj = Math.sqrt(squaredDistance(points, p, centroids, j, d))
          lower[p * k + j] = dj
          if (dj < upper[p] || (dj === upper[p] && j < a)) {
            a = j
            upper[p] = dj
          }
        }
        assignments[p] = a
      }
      const wp = w[p]
      mass[a] += wp
      for (let t = 0; t < d; t++) sums[a * d + t] += wp * points[p * d + t]
    }
    let changed = false
    const reseeded = new Set<number>()
    for (let j = 0; j < k; j++) {
      let m = 0
      if (mass[j] > 0) {
        for (let t = 0; t < d; t++) {
          const c = sums[j * d + t] / mass[j]
          m += (c - centroids[j * d + t]) ** 2
          centroids[j * d + t] = c
        }
      } else {
        // Empty cluster: move it onto the point that may be farthest from its centroid.
        let far = -1
        for (let p = 0; p < n; p++) if (!reseeded.has(p) && (far < 0 || upper[p] > upper[far])) far = p
        reseeded.add(far)
        for (let t = 0; t < d; t++) m += (points[far * d + t] - centroids[j * d + t]) ** 2
        centroids.set(points.subarray(far * d, (far + 1) * d), j * d)
      }
      moved[j] = Math.sqrt(m)
      if (moved[j] > 0) changed = true
    }
    await options.onIteration?.(iterations)
    if (!changed) break
    for (let p = 0; p < n; p++) {
      upper[p] += moved[assignments[p]]
      for (let j = 0; j < k; j++) lower[p * k + j] = Math.max(0, lower[p * k + j] - moved[j])
    }
  }
  const mass2 = new Float64Array(k)
  let inertia = 0
  for (let p = 0; p < n; p++) {
    const j = nearest(points, p, centroids, k, d, dist, assignments[p])
    assignments[p] = j
    mass2[j] += w[p]
    inertia += w[p] * dist[p]
  }
  return { centroids, assignments, weights: mass2, inertia, iterations }
}

function squaredDistance (points: Float64Array, p: number, centroids: Float64Array, j: number, d: number): number {
  let s = 0
  for (let t = 0; t < d; t++) {
    const diff = points[p * d + t] - centroids[j * d + t]
    s += diff * diff
  }
  return s
}

/** k-means++ seeding with weights: P(point) proportional to weight * squared distance. */
function plusPlus (
  points: Float64Array, n: number, d: number, k: number, w: ArrayLike<number>, rng: Random
): Float64Array {
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
