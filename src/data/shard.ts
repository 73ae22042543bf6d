/**
 * Shards: one train and one held-out shard per cluster, built from a dataset and its clustering.
 * The byte format, its encoder and decoder live in shard-format.ts and are re-exported here.
 */
import { InvalidArgumentError } from '../hddm-error.js'
import { datasetDigest, imageSize } from './dataset.js'
import { Random } from './random.js'
import { Tokenizer } from './tokenizer.js'
import type { Dataset } from './dataset.js'
import type { Shard, ShardHeader } from './shard-format.js'

export {
  SHARD_MAGIC, SHARD_VERSION, encodeShard, decodeShard, shardDigest, shardToDataset, firstItems
} from './shard-format.js'
export type { Shard, ShardHeader, ShardSplit } from './shard-format.js'

/** What buildShards needs of a clustering. */
export interface ShardClustering {
  k: number
  /** Cluster of each dataset item, in [0, k). */
  assignments: ArrayLike<number>
  digest: string
}

export interface BuildShardsOptions {
  /** Fraction of each cluster held out for evaluation (default 0.05). */
  heldOutFraction?: number
  seed?: number
  /** Default: Tokenizer.fromPrompts(dataset.prompts). */
  tokenizer?: Tokenizer
}

export interface ClusterShards {
  cluster: number
  train: Shard
  heldOut: Shard
}

/**
 * One train shard and one held-out shard per cluster. Each cluster's members are split by a
 * permutation seeded with (seed, cluster); both parts keep dataset order, so the bytes depend
 * only on the dataset, the clustering, the fraction and the seed.
 */
export function buildShards (
  dataset: Dataset, clustering: ShardClustering, options: BuildShardsOptions = {}
): ClusterShards[] {
  const fraction = options.heldOutFraction ?? 0.05
  const seed = options.seed ?? 0
  if (!(fraction >= 0 && fraction < 1)) {
    throw new InvalidArgumentError(`heldOutFraction must be in [0, 1), got ${fraction}`)
  }
  if (clustering.assignments.length !== dataset.count) {
    const assigned = clustering.assignments.length
    throw new InvalidArgumentError(`clustering has ${assigned} assignments for ${dataset.count} images`)
  }
  const tokenizer = options.tokenizer ?? Tokenizer.fromPrompts(dataset.prompts)
  const members: number[][] = Array.from({ length: clustering.k }, () => [])
  for (let i = 0; i < dataset.count; i++) {
    const c = clustering.assignments[i]
    if (!Number.isInteger(c) || c < 0 || c >= clustering.k) {
      throw new InvalidArgumentError(`assignment ${c} of item ${i} outside [0, ${clustering.k})`)
    }
    members[c].push(i)
  }
  const base = {
    dataset: { name: dataset.name, digest: datasetDigest(dataset), count: dataset.count },
    k: clustering.k,
    seed,
    heldOutFraction: fraction,
    clusteringDigest: clustering.digest,
    tokenizer: tokenizer.toJSON(),
    tokenizerDigest: tokenizer.digest
  }
  return members.map((items, cluster) => {
    const n = items.length
    let h = Math.round(n * fraction)
    if (fraction > 0 && n >= 2) h = Math.min(Math.max(h, 1), n - 1)
    const perm = Random.derive(seed, `held-out/${cluster}`).permutation(n)
    const held = Array.from(perm.subarray(0, h), p => items[p]).sort((a, b) => a - b)
    const train = Array.from(perm.subarray(h), p => items[p]).sort((a, b) => a - b)
    return {
      cluster,
      train: makeShard(dataset, train, { ...base, cluster, split: 'train' }),
      heldOut: makeShard(dataset, held, { ...base, cluster, split: 'held-out' })
    }
  })
}

/** The header fields makeShard is given (the others follow from the items). */
type HeaderBase = Pick<ShardHeader, ProvenanceField | 'tokenizer' | 'tokenizerDigest'>
/** Where a shard's items come from: the dataset, the clustering, the cluster and the split. */
type ProvenanceField = 'dataset' | 'cluster' | 'k' | 'split' | 'seed' | 'heldOutFraction' | 'clusteringDigest'

function makeShard (dataset: Dataset, items: number[], base: HeaderBase): Shard {
  const size = imageSize(dataset)
  const prompts = [...new Set(items.map(i => dataset.prompts[i]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const promptIndex = new Map(prompts.map((p, i) => [p, i]))
  const pixels = new Uint8Array(items.length * size)
  items.forEach((item, i) => pixels.set(dataset.pixels.subarray(item * size, (item + 1) * size), i * size))
  const labels = dataset.labels === undefined ? undefined : Int32Array.from(items, i => dataset.labels![i])
  const header: ShardHeader = {
    format: 'hddm-shard',
    dataset: base.dataset,
    cluster: base.cluster,
    k: base.k,
    split: base.split,
    seed: base.seed,
    heldOutFraction: base.heldOutFraction,
    clusteringDigest: base.clusteringDigest,
    count: items.length,
    width: dataset.width,
    height: dataset.height,
    channels: dataset.channels,
    hasLabels: labels !== undefined,
    classNames: dataset.classNames ?? null,
    prompts,
    tokenizer: base.tokenizer,
    tokenizerDigest: base.tokenizerDigest
  }
  const promptIds = Uint32Array.from(items, i => promptIndex.get(dataset.prompts[i])!)
  return { header, sourceIndices: Uint32Array.from(items), promptIds, labels, pixels }
}
