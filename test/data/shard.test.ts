import { describe, expect, it } from 'vitest'
import {
  buildShards, decodeShard, encodeShard, loadMnist, shardDigest, shardToDataset, takeDataset, Tokenizer
} from '../../src/data/index.js'

describe('shards', async () => {
  const dataset = takeDataset(await loadMnist({ split: 'test' }), 3000)
  // A label-derived clustering keeps this file independent of k-means (tested in cluster.test.ts).
  const clustering = { k: 3, assignments: Int32Array.from(dataset.labels!, l => l % 3), digest: 'label-mod-3' }

  it('splits each cluster into train and held-out parts that partition it', () => {
    const shards = buildShards(dataset, clustering, { heldOutFraction: 0.1, seed: 5 })
    expect(shards).toHaveLength(3)
    const seen = new Set<number>()
    for (const { cluster, train, heldOut } of shards) {
      const size = clustering.assignments.filter(c => c === cluster).length
      expect(train.header.count + heldOut.header.count).toBe(size)
      expect(heldOut.header.count).toBe(Math.round(size * 0.1))
      for (const s of [...train.sourceIndices, ...heldOut.sourceIndices]) {
        expect(clustering.assignments[s]).toBe(cluster)
        seen.add(s)
      }
      expect(train.labels!.every(l => l % 3 === cluster)).toBe(true)
      const asDataset = shardToDataset(heldOut)
      expect(asDataset.prompts[0]).toBe(dataset.prompts[heldOut.sourceIndices[0]])
      const firstPixel = heldOut.sourceIndices[0] * 784
      expect(asDataset.pixels.subarray(0, 784)).toEqual(dataset.pixels.subarray(firstPixel, firstPixel + 784))
    }
    expect(seen.size).toBe(dataset.count)
  })

  it('round-trips byte for byte and is byte-identical when rebuilt', () => {
    const a = buildShards(dataset, clustering, { seed: 5 })
    const b = buildShards(dataset, clustering, { seed: 5 })
    const c = buildShards(dataset, clustering, { seed: 6 })
    const bytes = encodeShard(a[1].train)
    expect(shardDigest(encodeShard(b[1].train))).toBe(shardDigest(bytes))
    expect(shardDigest(encodeShard(c[1].heldOut))).not.toBe(shardDigest(encodeShard(a[1].heldOut)))
    const decoded = decodeShard(bytes)
    const original = a[1].train
    expect(decoded.header).toEqual(original.header)
    for (const key of ['sourceIndices', 'promptIds', 'labels', 'pixels'] as const) {
      expect(Buffer.from(decoded[key]!.buffer).equals(Buffer.from(original[key]!.buffer))).toBe(true)
    }
    expect(shardDigest(encodeShard(decoded))).toBe(shardDigest(bytes))
    expect(Tokenizer.fromJSON(decoded.header.tokenizer).digest).toBe(decoded.header.tokenizerDigest)
  })

  it('rejects corrupt or truncated shards with InvalidShardError', () => {
    const shard = buildShards(dataset, clustering, { seed: 5 })[0].heldOut
    const count = shard.header.count
    const bytes = encodeShard(shard)
    const headerLength = new DataView(bytes.buffer).getUint32(12, true)
    const dataStart = 16 + headerLength
    const corrupt = (f: (b: Uint8Array) => void): Uint8Array => { const c = bytes.slice(); f(c); return c }
    const cases = [
      bytes.subarray(0, bytes.length - 1),
      bytes.subarray(0, 10),
      new Uint8Array([...bytes, 0]),
      corrupt(b => { b[0] = 0x58 }),                        // magic
      corrupt(b => { b[8] = 9 }),                           // version
      corrupt(b => { b[16 + 2] = 0x7b }),                   // header JSON
      corrupt(b => { new DataView(b.buffer).setUint32(12, 1 << 30, true) }),
      corrupt(b => { new DataView(b.buffer).setUint32(dataStart + 4 * count + 4, 0xffffff, true) }), // prompt id
      corrupt(b => { new DataView(b.buffer).setInt32(dataStart + 8 * count, 10, true) }) // label
    ]
    const invalidShard = expect.objectContaining({ name: 'InvalidShardError' })
    for (const c of cases) expect(() => decodeShard(c)).toThrowError(invalidShard)
  })
})
