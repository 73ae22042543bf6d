import { createHash } from 'node:crypto'
import { InvalidArgumentError } from '../hddm-error.js'
import { InvalidTokenizerError } from './errors.js'

export const PAD_ID = 0
/** The dropped prompt for classifier-free guidance encodes as [<null>, <pad>, ...]. */
export const NULL_ID = 1
export const UNK_ID = 2
export const SPECIAL_TOKENS = ['<pad>', '<null>', '<unk>'] as const
export const DEFAULT_MAX_LENGTH = 8

/** The stored form of a tokenizer; kept with the run so that every peer encodes prompts alike. */
export interface TokenizerJSON {
  type: 'hddm-word'
  version: 1
  maxLength: number
  /** Index = token id; starts with SPECIAL_TOKENS. */
  vocab: string[]
}

/**
 * Lower-cased runs of letters, digits, apostrophes and hyphens ("t-shirt", "ankle", "boot").
 * Unicode-aware so captions in any script split into words the same way everywhere.
 */
export function splitWords (prompt: string): string[] {
  return prompt.toLowerCase().match(/[\p{L}\p{N}'-]+/gu) ?? []
}

/** Word-level tokenizer with a fixed vocabulary and a fixed length L (truncate / pad). */
export class Tokenizer {
  readonly maxLength: number
  readonly vocab: readonly string[]
  private readonly ids: Map<string, number>

  private constructor (vocab: string[], maxLength: number) {
    this.vocab = vocab
    this.maxLength = maxLength
    this.ids = new Map(vocab.map((w, i) => [w, i]))
  }

  /** Vocabulary = special tokens, then every word of the prompts sorted by code unit (locale-independent). */
  static fromPrompts (prompts: Iterable<string>, options: { maxLength?: number } = {}): Tokenizer {
    const maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH
    if (!Number.isInteger(maxLength) || maxLength < 1) {
      throw new InvalidArgumentError(`tokenizer maxLength must be a positive integer, got ${maxLength}`)
    }
    const words = new Set<string>()
    for (const p of new Set(prompts)) for (const w of splitWords(p)) words.add(w)
    for (const s of SPECIAL_TOKENS) words.delete(s)
    const sorted = [...words].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    return new Tokenizer([...SPECIAL_TOKENS, ...sorted], maxLength)
  }

  static fromJSON (json: unknown): Tokenizer {
    const j = json as Partial<TokenizerJSON> | null
    if (j === null || typeof j !== 'object' || j.type !== 'hddm-word' || j.version !== 1) {
      throw new InvalidTokenizerError('not an hddm-word v1 tokenizer')
    }
    if (!Number.isInteger(j.maxLength) || (j.maxLength as number) < 1) {
      throw new InvalidTokenizerError('maxLength must be a positive integer')
    }
    const vocab = j.vocab
    if (!Array.isArray(vocab) || !vocab.every(w => typeof w === 'string')) {
      throw new InvalidTokenizerError('vocab must be an array of strings')
    }
    if (SPECIAL_TOKENS.some((s, i) => vocab[i] !== s)) {
      throw new InvalidTokenizerError('vocab must start with <pad>, <null>, <unk>')
    }
    if (new Set(vocab).size !== vocab.length) throw new InvalidTokenizerError('vocab has duplicates')
    return new Tokenizer([...vocab], j.maxLength as number)
  }

  toJSON (): TokenizerJSON {
    return { type: 'hddm-word', version: 1, maxLength: this.maxLength, vocab: [...this.vocab] }
  }

  get vocabSize (): number {
    return this.vocab.length
  }

  /** sha256 (hex) of the canonical JSON: two tokenizers with one digest encode identically. */
  get digest (): string {
    return createHash('sha256').update(JSON.stringify(this.toJSON())).digest('hex')
  }

  /** Token ids of one prompt, truncated or padded to maxLength; unknown words -> <unk>. */
  encode (prompt: string): Int32Array {
    const out = new Int32Array(this.maxLength)
    this.encodeInto(prompt, out, 0)
    return out
  }

  /** [B, L] row-major. */
  encodeBatch (prompts: readonly string[]): Int32Array {
    const out = new Int32Array(prompts.length * this.maxLength)
    for (let i = 0; i < prompts.length; i++) this.encodeInto(prompts[i], out, i * this.maxLength)
    return out
  }

  /** The classifier-free-guidance null prompt: [<null>, <pad>, ...]. */
  nullTokens (): Int32Array {
    const out = new Int32Array(this.maxLength)
    out[0] = NULL_ID
    return out
  }

  /** Words of the ids, without <pad>; for logs and tests. */
  decode (ids: ArrayLike<number>): string {
    const words: string[] = []
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === PAD_ID) continue
      words.push(this.vocab[ids[i]] ?? SPECIAL_TOKENS[UNK_ID])
    }
    return words.join(' ')
  }

  private encodeInto (prompt: string, out: Int32Array, offset: number): void {
    const words = splitWords(prompt)
    const n = Math.min(words.length, this.maxLength)
    for (let i = 0; i < n; i++) out[offset + i] = this.ids.get(words[i]) ?? UNK_ID
  }
}
