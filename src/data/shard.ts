import { createHash } from 'node:crypto'
import { z } from 'zod'
import { InvalidArgumentError } from '../hddm-error.js'
import { datasetDigest, imageSize } from './dataset.js'
import { InvalidShardError } from './errors.js'
import { Random } from './random.js'
import { Tokenizer } from './tokenizer.js'
import type { Dataset } from './dataset.js'
import type { TokenizerJSON } from './tokenizer.js'

/**
 * Shard file layout (all integers little-endian; see docs/DATA.md):
 *
 *   0   8 bytes  magic "HDDMSHRD"
 *   8   u32      format version (1)
 *   12  u32      header length H (UTF-8 JSON, space-padded to a multiple of 8)
 *   16  H bytes  header JSON (ShardHeader)
 *       u32[N]   source index of each item in the dataset
 *       u32[N]   prompt id: index into header.prompts
 *       i32[N]   label (present iff header.hasLabels)
 *       u8[N*H*W*C] pixels, HWC
 *
 * Nothing follows the pixels; any other length is an InvalidShardError.
 */
export const SHARD_MAGIC = 'HDDMSHRD'
export const SHARD_VERSION = 1
const PREAMBLE = 16

export type ShardSplit = 'train' | 'held-out'

export interface ShardHeader {
  format: 'hddm-shard'
  dataset: { name: string, digest: string, count: number }
  cluster: number
  k: number
  split: ShardSplit
  /** Seed of the clustering and of the held-out split. */
  seed: number
  heldOutFraction: number
  clusteringDigest: string
  count: number
  width: number
  height: number
  channels: number
  hasLabels: boolean
  classNames: string[] | null
  /** The distinct prompts of this shard, sorted by code unit. */
  prompts: string[]
  /** The run's tokenizer (built from all prompts of the dataset), so a shard is self-contained. */
  tokenizer: TokenizerJSON
  tokenizerDigest: string
}

/** A decoded shard: plain arrays, aligned by item. */
export interface Shard {
  header: ShardHeader
  sourceIndices: Uint32Array
  promptIds: Uint32Array
  labels?: Int32Array
  pixels: Uint8Array
}

const posInt = z.number().int().nonnegative()
const headerSchema = z.strictObject({
  format: z.literal('hddm-shard'),
  dataset: z.strictObject({ name: z.string(), digest: z.string(), count: posInt }),
  cluster: posInt,
  k: posInt.min(1),
  split: z.enum(['train', 'held-out']),
  seed: z.number().int(),
  heldOutFraction: z.number().min(0).max(1),
  clusteringDigest: z.string(),
  count: posInt,
  width: posInt.min(1),
  height: posInt.min(1),
  channels: posInt.min(1),
  hasLabels: z.boolean(),
  classNames: z.array(z.string()).nullable(),
  prompts: z.array(z.string()),
  tokenizer: z.strictObject({ type: z.literal('hddm-word'), version: z.literal(1), maxLength: posInt.min(1), vocab: z.array(z.string()) }),
  tokenizerDigest: z.string()
})

export function encodeShard (shard: Shard): Uint8Array {
  const { header } = shard
  const n = header.count
  if (shard.sourceIndices.length !== n || shard.promptIds.length !== n || shard.pixels.length !== n * imageSize(header) || (header.hasLabels !== (shard.labels !== undefined)) || (shard.labels !== undefined && shard.labels.length !== n)) {
    throw new InvalidShardError('shard arrays do not match its header')
  }
  let json = new TextEncoder().encode(JSON.stringify(header))
  const padded = Math.ceil(json.length / 8) * 8
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20)
    p.set(json)
    json = p
  }
  const intBytes = 4 * n * (header.hasLabels ? 3 : 2)
  const out = new Uint8Array(PREAMBLE + json.length + intBytes + shard.pixels.length)
  const view = new DataView(out.buffer)
  out.set(new TextEncoder().encode(SHARD_MAGIC), 0)
  view.setUint32(8, SHARD_VERSION, true)
  view.setUint32(12, json.length, true)
  out.set(json, PREAMBLE)
  let o = PREAMBLE + json.length
  for (let i = 0; i < n; i++, o += 4) view.setUint32(o, shard.sourceIndices[i], true)
  for (let i = 0; i < n; i++, o += 4) view.setUint32(o, shard.promptIds[i], true)
  if (shard.labels !== undefined) for (let i = 0; i < n; i++, o += 4) view.setInt32(o, shard.labels[i], true)
  out.set(shard.pixels, o)
  return out
}

export function decodeShard (bytes: Uint8Array): Shard {
  if (bytes.length < PREAMBLE) throw new InvalidShardError(`${bytes.length} bytes is too short for a shard`)
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== SHARD_MAGIC) throw new InvalidShardError('bad shard magic')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint32(8, true)
  if (version !== SHARD_VERSION) throw new InvalidShardError(`shard format version ${version} is not ${SHARD_VERSION}`)
  const headerLength = view.getUint32(12, true)
  if (PREAMBLE + headerLength > bytes.length) throw new InvalidShardError('truncated shard header')
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREAMBLE, PREAMBLE + headerLength)))
  } catch {
    throw new InvalidShardError('shard header is not valid UTF-8 JSON')
  }
  const parsed = headerSchema.safeParse(raw)
  if (!parsed.success) throw new InvalidShardError(`invalid shard header: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`)
  const header = parsed.data as ShardHeader
  const n = header.count
  const pixelBytes = n * imageSize(header)
  let o = PREAMBLE + headerLength
  const expected = o + 4 * n * (header.hasLabels ? 3 : 2) + pixelBytes
  if (bytes.length !== expected) throw new InvalidShardError(`shard of ${n} items needs ${expected} bytes, has ${bytes.length}`)
  if (header.cluster >= header.k) throw new InvalidShardError(`cluster ${header.cluster} outside K=${header.k}`)
  const sourceIndices = new Uint32Array(n)
  const promptIds = new Uint32Array(n)
  for (let i = 0; i < n; i++, o += 4) {
    sourceIndices[i] = view.getUint32(o, true)
    if (sourceIndices[i] >= header.dataset.count) throw new InvalidShardError(`source index ${sourceIndices[i]} outside the dataset`)
  }
  for (let i = 0; i < n; i++, o += 4) {
    promptIds[i] = view.getUint32(o, true)
    if (promptIds[i] >= header.prompts.length) throw new InvalidShardError(`prompt id ${promptIds[i]} outside the prompt table`)
  }
  let labels: Int32Array | undefined
  if (header.hasLabels) {
    labels = new Int32Array(n)
    const classes = header.classNames?.length ?? Infinity
    for (let i = 0; i < n; i++, o += 4) {
      labels[i] = view.getInt32(o, true)
      if (labels[i] < 0 || labels[i] >= classes) throw new InvalidShardError(`label ${labels[i]} outside the ${classes} classes`)
    }
  }
  return { header, sourceIndices, promptIds, labels, pixels: new Uint8Array(bytes.subarray(o, o + pixelBytes)) }
}

/** sha256 (hex) of the encoded bytes: equal digests <=> byte-identical shards. */
export function shardDigest (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The shard's items as a Dataset (prompts resolved), e.g. for held-out evaluation or grids. */
export function shardToDataset (shard: Shard): Dataset {
  const h = shard.header
  return {
    name: `${h.dataset.name}/cluster-${h.cluster}/${h.split}`,
    width: h.width,
    height: h.height,
    channels: h.channels,
    count: h.count,
    pixels: shard.pixels,
    labels: shard.labels,
    classNames: h.classNames ?? undefined,
    prompts: Array.from(shard.promptIds, id => h.prompts[id])
  }
}

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
export function buildShards (dataset: Dataset, clustering: ShardClustering, options: BuildShardsOptions = {}): ClusterShards[] {
  const fraction = options.heldOutFraction ?? 0.05
  const seed = options.seed ?? 0
  if (!(fraction >= 0 && fraction < 1)) throw new InvalidArgumentError(`heldOutFraction must be in [0, 1), got ${fraction}`)
  if (clustering.assignments.length !== dataset.count) throw new InvalidArgumentError(`clustering has ${clustering.assignments.length} assignments for ${dataset.count} images`)
  const tokenizer = options.tokenizer ?? Tokenizer.fromPrompts(dataset.prompts)
  const members: number[][] = Array.from({ length: clustering.k }, () => [])
  for (let i = 0; i < dataset.count; i++) {
    const c = clustering.assignments[i]
    if (!Number.isInteger(c) || c < 0 || c >= clustering.k) throw new InvalidArgumentError(`assignment ${c} of item ${i} outside [0, ${clustering.k})`)
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

type HeaderBase = Pick<ShardHeader, 'dataset' | 'cluster' | 'k' | 'split' | 'seed' | 'heldOutFraction' | 'clusteringDigest' | 'tokenizer' | 'tokenizerDigest'>

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
  return { header, sourceIndices: Uint32Array.from(items), promptIds: Uint32Array.from(items, i => promptIndex.get(dataset.prompts[i])!), labels, pixels }
}

/** The first `n` images of a shard (its order is the held-out split's own, fixed by the run). */
export function firstItems (shard: Shard, n: number): Shard {
  const count = Math.min(n, shard.header.count)
  const size = imageSize(shard.header)
  return {
    header: { ...shard.header, count },
    sourceIndices: shard.sourceIndices.subarray(0, count),
    promptIds: shard.promptIds.subarray(0, count),
    ...(shard.labels === undefined ? {} : { labels: shard.labels.subarray(0, count) }),
    pixels: shard.pixels.subarray(0, count * size)
  }
}
