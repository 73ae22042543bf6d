import { createHash } from 'node:crypto'
import { InvalidArgumentError, throwIfAborted } from '../hddm-error.js'
import { CustomProgressEvent } from '../progress.js'
import { fitPca, pcaFeatureMap, type FeatureMap } from './features.js'
import { kmeans, nearest } from './kmeans.js'
import { Random } from './random.js'
import type { Dataset } from './dataset.js'
import type { PcaInit } from './features.js'
import type { AbortOptions, ProgressEvent, ProgressOptions } from '../progress.js'

export type ClusterProgressEvents =
  | ProgressEvent<'hddm:data:cluster:features', { kind: FeatureMap['kind'], dims: number }>
  | ProgressEvent<'hddm:data:cluster:fine', { iteration: number }>
  | ProgressEvent<'hddm:data:cluster:coarse', { k: number }>

export interface ClusterOptions extends AbortOptions, ProgressOptions<ClusterProgressEvents> {
  k: number
  seed?: number
  /** Fine centroids (default 128, clamped to the fitted points). */
  fine?: number
  /** The points to cluster: a fixed map (the shipped encoder), or by default a PCA of this data. */
  features?: FeatureMap
  /** PCA settings when `features` is not given. */
  pca?: Omit<PcaInit, 'seed'>
  /** Points the fine k-means is fitted on (a seeded subsample); every image is then assigned. */
  fineSamples?: number
  fineIterations?: number
  coarseRestarts?: number
}

export const CLUSTER_DEFAULTS = { seed: 0, fine: 128, fineSamples: 10_000, fineIterations: 25, coarseRestarts: 16 }

/** Everything needed to put new images into the same clusters (e.g. a test split). */
export interface ClusterModel {
  features: FeatureMap
  /** [fine, dims] */
  fineCentroids: Float64Array
  /** Coarse cluster of each fine centroid. */
  fineToCluster: Int32Array
}

export interface Clustering {
  k: number
  seed: number
  /** Number of fine centroids actually used. */
  fine: number
  /** Cluster of each image, in [0, k); clusters are numbered by decreasing size. */
  assignments: Int32Array
  sizes: number[]
  /** Natural frequencies pi_k = size_k / N (the router's prior). */
  pi: number[]
  /**
   * With labels: [k][class] counts; purity = sum_k max_c / N; the majority-class fraction (what
   * one cluster, or a label-blind assignment, scores); and class concentration, the share of
   * each class's images that fall in that class's most common cluster, averaged over classes
   * (1 when no class is split across clusters, whatever K).
   */
  labelCounts?: number[][]
  purity?: number
  majorityFraction?: number
  concentration?: number
  /** sha256 (hex) over k, seed, fine and the assignments. */
  digest: string
  model: ClusterModel
}

/**
 * Two-stage clustering: features (PCA or a fixed encoder) -> fine k-means (k-means++, seeded subsample) -> coarse
 * weighted k-means of the fine centroids to K -> each image takes its fine centroid's cluster.
 * The same dataset, options and seed give the same digest on any machine.
 */
export async function clusterDataset (dataset: Dataset, options: ClusterOptions): Promise<Clustering> {
  const { k, seed, fine: fineWanted, fineSamples, fineIterations, coarseRestarts } = { ...CLUSTER_DEFAULTS, ...options }
  const signal = options.signal
  throwIfAborted(signal)
  if (!Number.isInteger(k) || k < 1) throw new InvalidArgumentError(`K must be a positive integer, got ${k}`)
  if (k > dataset.count) throw new InvalidArgumentError(`K=${k} is larger than the ${dataset.count} images`)
  if (!Number.isInteger(fineWanted) || fineWanted < 1) {
    throw new InvalidArgumentError(`fine must be a positive integer, got ${fineWanted}`)
  }
  if (!Number.isInteger(seed)) throw new InvalidArgumentError(`seed must be an integer, got ${seed}`)

  const featureMap = options.features ?? pcaFeatureMap(fitPca(dataset, { ...options.pca, seed }))
  const featuresChosen = { kind: featureMap.kind, dims: featureMap.dims }
  options.onProgress?.(new CustomProgressEvent('hddm:data:cluster:features', featuresChosen))
  throwIfAborted(signal)
  const r = featureMap.dims
  const features = featureMap.transform(dataset)
  await yieldNow()
  throwIfAborted(signal)

  // Fine stage on a seeded subsample, kept in dataset order.
  const m = Math.min(dataset.count, fineSamples)
  const sample = Random.derive(seed, 'fine-samples').permutation(dataset.count).subarray(0, m).sort()
  const fitPoints = new Float64Array(m * r)
  sample.forEach((item, i) => fitPoints.set(features.subarray(item * r, (item + 1) * r), i * r))
  const fine = Math.min(fineWanted, m)
  if (k > fine) throw new InvalidArgumentError(`K=${k} is larger than the ${fine} fine centroids`)
  const fineFit = await kmeans(fitPoints, r, {
    k: fine,
    seed: seedOf(seed, 'fine'),
    maxIterations: fineIterations,
    onIteration: async iteration => {
      options.onProgress?.(new CustomProgressEvent('hddm:data:cluster:fine', { iteration }))
      await yieldNow()
      throwIfAborted(signal)
    }
  })
  const fineAssignments = new Int32Array(dataset.count)
  const fineCounts = new Float64Array(fine)
  const dist = new Float64Array(dataset.count)
  for (let i = 0; i < dataset.count; i++) {
    const j = nearest(features, i, fineFit.centroids, fine, r, dist)
    fineAssignments[i] = j
    fineCounts[j]++
  }
  throwIfAborted(signal)

  // Coarse stage: fine centroids weighted by how many images they hold; unused ones weigh 0.
  const used = fineCounts.reduce((n, c) => n + (c > 0 ? 1 : 0), 0)
  if (k > used) throw new InvalidArgumentError(`K=${k} is larger than the ${used} distinct fine clusters of this data`)
  options.onProgress?.(new CustomProgressEvent('hddm:data:cluster:coarse', { k }))
  const coarse = await kmeans(fineFit.centroids, r, {
    k,
    seed: seedOf(seed, 'coarse'),
    weights: fineCounts,
    restarts: coarseRestarts,
    maxIterations: 100
  })

  // Renumber clusters by decreasing size (ties: lowest first image) so reports read naturally.
  const rawAssign = Int32Array.from(fineAssignments, f => coarse.assignments[f])
  const rawSizes = new Array<number>(k).fill(0)
  const firstSeen = new Array<number>(k).fill(Infinity)
  rawAssign.forEach((c, i) => { rawSizes[c]++; if (firstSeen[c] === Infinity) firstSeen[c] = i })
  const bySize = (a: number, b: number): number => rawSizes[b] - rawSizes[a] || firstSeen[a] - firstSeen[b]
  const order = Array.from({ length: k }, (_, c) => c).sort(bySize)
  const rename = new Int32Array(k)
  order.forEach((c, i) => { rename[c] = i })
  const assignments = Int32Array.from(rawAssign, c => rename[c])
  const fineToCluster = Int32Array.from(coarse.assignments, c => rename[c])
  const sizes = order.map(c => rawSizes[c])
  if (sizes.some(s => s === 0)) throw new InvalidArgumentError(`K=${k} leaves an empty cluster on this data`)

  return {
    k,
    seed,
    fine,
    assignments,
    sizes,
    pi: sizes.map(s => s / dataset.count),
    ...labelStats(dataset, assignments, k),
    digest: clusteringDigest(k, seed, fine, assignments),
    model: { features: featureMap, fineCentroids: fineFit.centroids, fineToCluster }
  }
}

/** Clusters of new images of the same shape under a fitted model. */
export function assignClusters (model: ClusterModel, dataset: Dataset): Int32Array {
  const features = model.features.transform(dataset)
  const fine = model.fineToCluster.length
  const dist = new Float64Array(dataset.count)
  const clusterOf = (i: number): number => {
    const fineCluster = nearest(features, i, model.fineCentroids, fine, model.features.dims, dist)
    return model.fineToCluster[fineCluster]
  }
  return Int32Array.from({ length: dataset.count }, (_, i) => clusterOf(i))
}

export function clusteringDigest (k: number, seed: number, fine: number, assignments: Int32Array): string {
  const bytes = new Uint8Array(assignments.length * 4)
  const view = new DataView(bytes.buffer)
  assignments.forEach((c, i) => view.setInt32(i * 4, c, true))
  return createHash('sha256').update(JSON.stringify({ k, seed, fine })).update(bytes).digest('hex')
}

type LabelStats = Pick<Clustering, 'labelCounts' | 'purity' | 'majorityFraction' | 'concentration'>

function labelStats (dataset: Dataset, assignments: Int32Array, k: number): LabelStats {
  if (dataset.labels === undefined || dataset.count === 0) return {}
  let classes = dataset.classNames?.length ?? 0
  for (const l of dataset.labels) classes = Math.max(classes, l + 1)
  const labelCounts = Array.from({ length: k }, () => new Array<number>(classes).fill(0))
  const totals = new Array<number>(classes).fill(0)
  dataset.labels.forEach((l, i) => { labelCounts[assignments[i]][l]++; totals[l]++ })
  const purity = labelCounts.reduce((s, row) => s + Math.max(...row), 0) / dataset.count
  const majorityFraction = Math.max(...totals) / dataset.count
  return { labelCounts, purity, majorityFraction, concentration: classConcentration(labelCounts) }
}

/** Mean over the classes present of (images in the class's most common cluster / images of the class). */
export function classConcentration (labelCounts: number[][]): number {
  const classes = labelCounts[0]?.length ?? 0
  let sum = 0
  let present = 0
  for (let c = 0; c < classes; c++) {
    let total = 0
    let most = 0
    for (const row of labelCounts) {
      total += row[c]
      most = Math.max(most, row[c])
    }
    if (total === 0) continue
    sum += most / total
    present++
  }
  return present === 0 ? 0 : sum / present
}

function seedOf (seed: number, label: string): number {
  return Random.derive(seed, label).nextUint32()
}

function yieldNow (): Promise<void> {
  return new Promise(resolve => setImmediate(resolve))
}
