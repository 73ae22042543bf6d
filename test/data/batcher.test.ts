import { describe, expect, it } from 'vitest'
import {
  buildShards, dropPrompts, loadMnist, NULL_ID, Random, ShardBatcher, takeDataset, Tokenizer
} from '../../src/data/index.js'

describe('ShardBatcher', async () => {
  const dataset = takeDataset(await loadMnist({ split: 'test' }), 500)
  const oneCluster = { k: 1, assignments: new Int32Array(500), digest: 'one' }
  const shard = buildShards(dataset, oneCluster, { heldOutFraction: 0, seed: 1 })[0].train
  const tokenizer = Tokenizer.fromJSON(shard.header.tokenizer)

  it('serves full batches in [-1, 1] with the prompts of the items', () => {
    const batcher = new ShardBatcher(shard, { batchSize: 16, seed: 3 })
    const batch = batcher.next()
    expect(batch.images.length).toBe(16 * 28 * 28)
    expect(batch.tokens.length).toBe(16 * tokenizer.maxLength)
    expect(Math.min(...batch.images)).toBe(-1)
    expect(Math.max(...batch.images)).toBe(1)
    for (let b = 0; b < 16; b++) {
      const item = batch.indices[b]
      expect(batch.labels![b]).toBe(shard.labels![item])
      const tokens = batch.tokens.subarray(b * tokenizer.maxLength, (b + 1) * tokenizer.maxLength)
      expect(tokenizer.decode(tokens)).toBe(dataset.prompts[shard.sourceIndices[item]])
      expect(batch.images[b * 784 + 300]).toBeCloseTo(shard.pixels[item * 784 + 300] / 127.5 - 1, 6)
    }
  })

  it('visits every item once per epoch and crosses epochs with full batches', () => {
    const batcher = new ShardBatcher(shard, { batchSize: 100, seed: 3 })
    const firstEpoch = Array.from({ length: 5 }, () => [...batcher.next().indices]).flat()
    expect(new Set(firstEpoch).size).toBe(500)
    const b = new ShardBatcher(shard, { batchSize: 300, seed: 3 })
    b.next()
    expect(b.next().indices.length).toBe(300)
    expect(b.getState().epoch).toBe(1)
  })

  it('is deterministic and resumes the same stream from a saved state', () => {
    const a = new ShardBatcher(shard, { batchSize: 48, seed: 9, promptDropout: 0.3 })
    const b = new ShardBatcher(shard, { batchSize: 48, seed: 9, promptDropout: 0.3 })
    for (let i = 0; i < 7; i++) { a.next(); b.next() }
    const state = JSON.parse(JSON.stringify(a.getState()))
    const expected = Array.from({ length: 12 }, () => a.next())
    const resumed = new ShardBatcher(shard, { batchSize: 48, seed: 1234, promptDropout: 0.3 })
    resumed.setState(state)
    for (const want of expected) {
      const [x, y] = [resumed.next(), b.next()]
      for (const got of [x, y]) {
        expect(got.indices).toEqual(want.indices)
        expect(got.tokens).toEqual(want.tokens)
      }
    }
    const other = new ShardBatcher(shard, { batchSize: 48, seed: 10 })
    expect(other.next().indices).not.toEqual(new ShardBatcher(shard, { batchSize: 48, seed: 9 }).next().indices)
  })

  it('drops prompts to the null prompt at the requested rate', () => {
    const L = tokenizer.maxLength
    const rows = 4000
    const tokens = tokenizer.encodeBatch(new Array(rows).fill('seven'))
    const dropped = dropPrompts(tokens, L, 0.1, new Random(1))
    const n = dropped.reduce((s, d) => s + d, 0)
    expect(n).toBeGreaterThan(rows * 0.08)
    expect(n).toBeLessThan(rows * 0.12)
    for (let r = 0; r < rows; r++) {
      const row = [...tokens.subarray(r * L, (r + 1) * L)]
      expect(row).toEqual(dropped[r] === 1 ? [...tokenizer.nullTokens()] : [...tokenizer.encode('seven')])
    }
    expect(tokenizer.nullTokens()[0]).toBe(NULL_ID)
  })

  it('rejects bad options with InvalidArgumentError', () => {
    const invalidArgument = expect.objectContaining({ name: 'InvalidArgumentError' })
    for (const init of [{ batchSize: 0, seed: 1 }, { batchSize: 4, seed: 1, promptDropout: 2 }]) {
      expect(() => new ShardBatcher(shard, init)).toThrowError(invalidArgument)
    }
  })
})
