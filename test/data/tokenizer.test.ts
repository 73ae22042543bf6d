import { describe, expect, it } from 'vitest'
import { NULL_ID, PAD_ID, Tokenizer, UNK_ID } from '../../src/data/index.js'

describe('Tokenizer', () => {
  const prompts = ['ankle boot', 'T-shirt', 'bag', 'ankle boot', 'sneaker']

  it('builds a sorted vocabulary after the special tokens, whatever the prompt order', () => {
    const t = Tokenizer.fromPrompts(prompts)
    expect(t.vocab).toEqual(['<pad>', '<null>', '<unk>', 'ankle', 'bag', 'boot', 'sneaker', 't-shirt'])
    expect(Tokenizer.fromPrompts([...prompts].reverse()).digest).toBe(t.digest)
    expect(Tokenizer.fromPrompts([...prompts, 'dress']).digest).not.toBe(t.digest)
  })

  it('encodes to fixed length with padding, truncation and <unk>', () => {
    const t = Tokenizer.fromPrompts(prompts, { maxLength: 3 })
    expect([...t.encode('Ankle boot')]).toEqual([3, 5, PAD_ID])
    expect([...t.encode('bag bag bag bag')]).toEqual([4, 4, 4])
    expect([...t.encode('red bag')]).toEqual([UNK_ID, 4, PAD_ID])
    expect([...t.nullTokens()]).toEqual([NULL_ID, PAD_ID, PAD_ID])
    expect([...t.encodeBatch(['bag', 'sneaker'])]).toEqual([4, 0, 0, 6, 0, 0])
    expect(t.decode(t.encode('ankle boot'))).toBe('ankle boot')
  })

  it('round-trips through JSON and rejects a malformed one', () => {
    const t = Tokenizer.fromPrompts(prompts)
    const back = Tokenizer.fromJSON(JSON.parse(JSON.stringify(t.toJSON())))
    expect(back.digest).toBe(t.digest)
    expect([...back.encode('ankle boot')]).toEqual([...t.encode('ankle boot')])
    const bad = [
      null,
      { ...t.toJSON(), version: 2 },
      { ...t.toJSON(), vocab: ['a', 'b'] },
      { ...t.toJSON(), vocab: [...t.vocab, 'bag'] },
      { ...t.toJSON(), maxLength: 0 }
    ]
    const invalidTokenizer = expect.objectContaining({ name: 'InvalidTokenizerError' })
    for (const json of bad) expect(() => Tokenizer.fromJSON(json)).toThrowError(invalidTokenizer)
  })
})
