import * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import { Random } from '../../src/data/random.js'
import { InsufficientSamplesError } from '../../src/eval/errors.js'
import { precisionRecall } from '../../src/eval/precision-recall.js'

const DIM = 8

/** `n` points around `centre` (every coordinate), unit Gaussian spread. */
function blob (n: number, centre: number, seed: number): Float32Array {
  const random = new Random(seed)
  return Float32Array.from({ length: n * DIM }, () => centre + random.normal())
}

const concat = (...parts: Float32Array[]): Float32Array => {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

describe('precision and recall', () => {
  it('scores a set against itself 1 and 1', () => {
    const real = blob(300, 0, 1)
    expect(precisionRecall(real, real, DIM)).toEqual({ precision: 1, recall: 1, k: 3 })
  })

  it('tells mode dropping (precision kept, recall halved) from off-manifold samples (both lost)', () => {
    const real = concat(blob(200, 0, 2), blob(200, 20, 3))   // two well-separated modes
    const oneMode = blob(400, 0, 4)
    const dropped = precisionRecall(real, oneMode, DIM)
    expect(dropped.precision).toBeGreaterThan(0.75)
    expect(dropped.recall).toBeGreaterThan(0.4)
    expect(dropped.recall).toBeLessThan(0.55)
    const elsewhere = precisionRecall(real, blob(400, 10, 5), DIM)
    expect(elsewhere.precision).toBe(0)
    expect(elsewhere.recall).toBe(0)
  })

  it('scores a fresh draw of the same distribution high on both, across call chunks', () => {
    // 1 200 rows: more than one 1 000-row chunk of distances.
    const result = precisionRecall(blob(1200, 0, 6), blob(1200, 0, 7), DIM)
    expect(result.precision).toBeGreaterThan(0.7)
    expect(result.recall).toBeGreaterThan(0.7)
  })

  it('needs more than k rows in each set, and leaks no tensors', () => {
    expect(() => precisionRecall(blob(3, 0, 1), blob(10, 0, 2), DIM)).toThrow(InsufficientSamplesError)
    const before = tf.memory().numTensors
    precisionRecall(blob(50, 0, 1), blob(50, 1, 2), DIM)
    expect(tf.memory().numTensors).toBe(before)
  })
})
