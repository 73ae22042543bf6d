import { createHash } from 'node:crypto'
import { z } from 'zod'
import { imageSize } from './dataset.js'
import { InvalidShardError } from './errors.js'
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
  tokenizer: z.strictObject({
    type: z.literal('hddm-word'),
    version: z.literal(1),
    maxLength: posInt.min(1),
    vocab: z.array(z.string())
  }),
  tokenizerDigest: z.string()
})

export function encodeShard (shard: Shard): Uint8Array {
  const { header } = shard
  const n = header.count
  if (!arraysMatchHeader(shard)) throw new InvalidShardError('shard arrays do not match its header')
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

/** Whether the shard's arrays have the lengths its header gives. */
function arraysMatchHeader (shard: Shard): boolean {
  const { header } = shard
  const n = header.count
  if (shard.sourceIndices.length !== n || shard.promptIds.length !== n) return false
  if (shard.pixels.length !== n * imageSize(header)) return false
  if (header.hasLabels !== (shard.labels !== undefined)) return false
  return shard.labels === undefined || shard.labels.length === n
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
    const headerBytes = bytes.subarray(PREAMBLE, PREAMBLE + headerLength)
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes))
  } catch {
    throw new InvalidShardError('shard header is not valid UTF-8 JSON')
  }
  const parsed = headerSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new InvalidShardError(`invalid shard header: ${issue?.path.join('.')} ${issue?.message}`)
  }
  const header = parsed.data as ShardHeader
  const n = header.count
  const pixelBytes = n * imageSize(header)
  let o = PREAMBLE + headerLength
  const expected = o + 4 * n * (header.hasLabels ? 3 : 2) + pixelBytes
  if (bytes.length !== expected) {
    throw new InvalidShardError(`shard of ${n} items needs ${expected} bytes, has ${bytes.length}`)
  }
  if (header.cluster >= header.k) throw new InvalidShardError(`cluster ${header.cluster} outside K=${header.k}`)
  const sourceIndices = new Uint32Array(n)
  const promptIds = new Uint32Array(n)
  for (let i = 0; i < n; i++, o += 4) {
    sourceIndices[i] = view.getUint32(o, true)
    if (sourceIndices[i] >= header.dataset.count) {
      throw new InvalidShardError(`source index ${sourceIndices[i]} outside the dataset`)
    }
  }
  for (let i = 0; i < n; i++, o += 4) {
    promptIds[i] = view.getUint32(o, true)
    if (promptIds[i] >= header.prompts.length) {
      throw new InvalidShardError(`prompt id ${promptIds[i]} outside the prompt table`)
    }
  }
  let labels: Int32Array | undefined
  if (header.hasLabels) {
    labels = new Int32Array(n)
    const classes = header.classNames?.length ?? Infinity
    for (let i = 0; i < n; i++, o += 4) {
      labels[i] = view.getInt32(o, true)
      if (labels[i] < 0 || labels[i] >= classes) {
        throw new InvalidShardError(`label ${labels[i]} outside the ${classes} classes`)
      }
    }
  }
  const pixels = new Uint8Array(bytes.subarray(o, o + pixelBytes))
  return { header, sourceIndices, promptIds, labels, pixels }
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
