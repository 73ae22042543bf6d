import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { loadMnist, takeDataset } from '../../src/data/index.js'
import { encodeExact, encoderWeights, FeatureEncoder } from '../../src/model/feature-encoder.js'

beforeAll(async () => { await tf.setBackend('cpu') })

describe('clustering encoder network', () => {
  const config = { inputSize: 784, hidden: [64, 32], featureDim: 16, projectionDim: 8 }

  it('its exact float64 features are the tfjs forward pass, L2-normalised', async () => {
    const data = takeDataset(await loadMnist({ split: 'train' }), 20)
    const encoder = new FeatureEncoder(config, 3)
    const exact = encodeExact(encoderWeights(encoder), data.pixels, data.count)
    const viaTf = tf.tidy(() => {
      const x = tf.tensor2d(Float32Array.from(data.pixels, p => p / 127.5 - 1), [data.count, 784])
      const f = encoder.features(x)
      return tf.div(f, tf.norm(f, 'euclidean', 1, true)).dataSync()
    })
    expect(exact).toHaveLength(20 * 16)
    let maxDiff = 0
    for (let i = 0; i < exact.length; i++) maxDiff = Math.max(maxDiff, Math.abs(exact[i] - viaTf[i]))
    expect(maxDiff).toBeLessThan(1e-5)
    for (let n = 0; n < 20; n++) {
      let norm = 0
      for (let f = 0; f < 16; f++) norm += exact[n * 16 + f] ** 2
      expect(norm).toBeCloseTo(1, 12)
    }
    encoder.dispose()
  })

  it('projects onto the unit sphere and does not leak tensors', () => {
    const encoder = new FeatureEncoder(config, 1)
    const before = tf.memory().numTensors
    const z = tf.tidy(() => {
      const images = tf.randomUniform([5, 784], -1, 1, 'float32', 2) as tf.Tensor2D
      return encoder.project(encoder.features(images))
    })
    expect(z.shape).toEqual([5, 8])
    const norms = tf.tidy(() => tf.norm(z, 'euclidean', 1).dataSync())
    for (const n of norms) expect(n).toBeCloseTo(1, 5)
    z.dispose()
    expect(tf.memory().numTensors).toBe(before)
    encoder.dispose()
  })

  it('refuses images of another size and configs that cannot build a network', () => {
    const encoder = new FeatureEncoder(config, 1)
    const invalidArgument = expect.objectContaining({ name: 'InvalidArgumentError' })
    expect(() => encodeExact(encoderWeights(encoder), new Uint8Array(100), 1)).toThrow(invalidArgument)
    encoder.dispose()
    expect(() => new FeatureEncoder({ ...config, hidden: [0] })).toThrow(invalidArgument)
  })
})
