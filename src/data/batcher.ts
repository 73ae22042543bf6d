import { InvalidArgumentError } from '../hddm-error.js'
import { imageSize } from './dataset.js'
import { Random } from './random.js'
import { NULL_ID, PAD_ID, Tokenizer } from './tokenizer.js'
import type { RandomJSON } from './random.js'
import type { Shard } from './shard.js'

/** One training batch as plain arrays; the trainer turns them into tensors. */
export interface Batch {
  /** [B, H, W, C], pixels mapped to [-1, 1]. */
  images: Float32Array
  /** [B, L] token ids (rows of dropped prompts are the null prompt). */
  tokens: Int32Array
  /** [B], when the shard is labelled. */
  labels?: Int32Array
  /** [B] positions of the items in the shard. */
  indices: Uint32Array
}

export interface ShardBatcherInit {
  batchSize: number
  seed: number
  /** Probability of replacing a prompt by the null prompt (classifier-free guidance); default 0. */
  promptDropout?: number
  /** Default: the tokenizer stored in the shard header. */
  tokenizer?: Tokenizer
}

/** Everything needed to continue the same batch stream later (JSON-safe). */
export interface ShardBatcherState {
  epoch: number
  /** Items of the current epoch already served. */
  cursor: number
  /** Shuffle RNG at the start of the current epoch (the permutation is re-derived from it). */
  epochRandom: RandomJSON
  dropoutRandom: RandomJSON
}

/**
 * Endless shuffled batches over a shard: each epoch is a fresh permutation; a batch that runs
 * past the end of an epoch continues into the next, so every batch is full.
 */
export class ShardBatcher {
  readonly batchSize: number
  readonly promptDropout: number
  private readonly shard: Shard
  private readonly promptTokens: Int32Array
  private readonly maxLength: number
  private epoch = 0
  private cursor = 0
  private epochRandom!: RandomJSON
  private shuffle!: Random
  private order!: Uint32Array
  private readonly dropout: Random

  constructor (shard: Shard, init: ShardBatcherInit) {
    if (!Number.isInteger(init.batchSize) || init.batchSize < 1) {
      throw new InvalidArgumentError(`batchSize must be a positive integer, got ${init.batchSize}`)
    }
    if (shard.header.count === 0) throw new InvalidArgumentError('cannot batch an empty shard')
    const p = init.promptDropout ?? 0
    if (!(p >= 0 && p <= 1)) throw new InvalidArgumentError(`promptDropout must be in [0, 1], got ${p}`)
    this.shard = shard
    this.batchSize = init.batchSize
    this.promptDropout = p
    const tokenizer = init.tokenizer ?? Tokenizer.fromJSON(shard.header.tokenizer)
    this.maxLength = tokenizer.maxLength
    this.promptTokens = tokenizer.encodeBatch(shard.header.prompts)
    this.dropout = Random.derive(init.seed, 'prompt-dropout')
    this.startEpoch(Random.derive(init.seed, 'shuffle').getState(), 0)
  }

  next (): Batch {
    const { batchSize: B, maxLength: L } = this
    const size = imageSize(this.shard.header)
    const images = new Float32Array(B * size)
    const tokens = new Int32Array(B * L)
    const labels = this.shard.labels === undefined ? undefined : new Int32Array(B)
    const indices = new Uint32Array(B)
    for (let b = 0; b < B; b++) {
      if (this.cursor === this.order.length) this.startEpoch(this.shuffle.getState(), this.epoch + 1)
      const item = this.order[this.cursor++]
      indices[b] = item
      const src = this.shard.pixels.subarray(item * size, (item + 1) * size)
      for (let i = 0; i < size; i++) images[b * size + i] = src[i] / 127.5 - 1
      const pid = this.shard.promptIds[item]
      tokens.set(this.promptTokens.subarray(pid * L, (pid + 1) * L), b * L)
      if (labels !== undefined) labels[b] = this.shard.labels![item]
    }
    dropPrompts(tokens, L, this.promptDropout, this.dropout)
    return { images, tokens, labels, indices }
  }

  getState (): ShardBatcherState {
    return {
      epoch: this.epoch,
      cursor: this.cursor,
      epochRandom: this.epochRandom,
      dropoutRandom: this.dropout.getState()
    }
  }

  setState (state: ShardBatcherState): void {
    const cursorFits = Number.isInteger(state.cursor) && state.cursor >= 0 && state.cursor <= this.shard.header.count
    const epochFits = Number.isInteger(state.epoch) && state.epoch >= 0
    if (!cursorFits || !epochFits) {
      throw new InvalidArgumentError('batcher state does not fit this shard')
    }
    this.startEpoch(state.epochRandom, state.epoch)
    this.cursor = state.cursor
    this.dropout.setState(state.dropoutRandom)
  }

  private startEpoch (random: RandomJSON, epoch: number): void {
    this.epochRandom = random
    this.shuffle = Random.fromState(random)
    this.order = this.shuffle.permutation(this.shard.header.count)
    this.epoch = epoch
    this.cursor = 0
  }
}

/**
 * Replaces each row of `tokens` ([B, L]) by the null prompt [<null>, <pad>, ...] with
 * probability p, drawing one float per row from `random` (so the stream advances by B whatever p).
 * Returns a mask of the dropped rows.
 */
export function dropPrompts (tokens: Int32Array, maxLength: number, p: number, random: Random): Uint8Array {
  const rows = tokens.length / maxLength
  if (!Number.isInteger(rows)) {
    throw new InvalidArgumentError(`tokens length ${tokens.length} is not a multiple of ${maxLength}`)
  }
  const dropped = new Uint8Array(rows)
  for (let r = 0; r < rows; r++) {
    if (random.nextFloat() < p) {
      dropped[r] = 1
      tokens.fill(PAD_ID, r * maxLength, (r + 1) * maxLength)
      tokens[r * maxLength] = NULL_ID
    }
  }
  return dropped
}
