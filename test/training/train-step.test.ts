import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { EXPERT_PRESETS, type DiTConfig } from '../../src/model/config.js'
import { DiT } from '../../src/model/dit.js'
import { createObjective } from '../../src/diffusion/objectives/index.js'
import { expertTrainStep } from '../../src/training/train-step.js'
import { loadMnist } from '../../src/data/mnist.js'
import { Tokenizer } from '../../src/data/tokenizer.js'
import { Random } from '../../src/data/random.js'
import type { Dataset } from '../../src/data/dataset.js'
import { useTrainingBackend } from '../utils/backend.js'

let mnist: Dataset
let tokenizer: Tokenizer
beforeAll(async () => {
  await useTrainingBackend()
  mnist = await loadMnist({ split: 'train' })
  tokenizer = Tokenizer.fromPrompts(mnist.prompts, { maxLength: 4 })
})

/** A fixed batch stream over the first 2048 real MNIST digits, images in [-1, 1]. */
function batches (batchSize: number, seed: number): () => { images: Float32Array, tokens: Int32Array } {
  const random = new Random(seed)
  const pixels = 28 * 28
  return () => {
    const images = new Float32Array(batchSize * pixels)
    const tokens = new Int32Array(batchSize * 4)
    for (let b = 0; b < batchSize; b++) {
      const i = random.nextInt(2048)
      for (let p = 0; p < pixels; p++) images[b * pixels + p] = mnist.pixels[i * pixels + p] / 127.5 - 1
      tokens.set(tokenizer.encode(mnist.prompts[i]), b * 4)
    }
    return { images, tokens }
  }
}

function config (): DiTConfig {
  return { ...EXPERT_PRESETS.tiny, vocabSize: tokenizer.vocab.length, promptTokens: 4 }
}

describe('expert training step on real MNIST', () => {
  for (const name of ['fm', 'ddpm'] as const) {
    it(`lowers the ${name} loss over 50 steps`, () => {
      const model = new DiT(config(), 1)
      const objective = createObjective(name)
      const optimizer = tf.train.adam(2e-3)
      const next = batches(32, 2)
      const random = new Random(3)
      const losses: number[] = []
      for (let step = 0; step < 50; step++) {
        const u = Float32Array.from({ length: 32 }, () => random.nextFloat())
        losses.push(expertTrainStep(model, objective, optimizer, next(), { u, noiseSeed: 1000 + step }).loss)
      }
      const mean = (a: number[]): number => a.reduce((x, y) => x + y) / a.length
      expect(losses.every(Number.isFinite)).toBe(true)
      expect(mean(losses.slice(-10))).toBeLessThan(0.8 * mean(losses.slice(0, 10)))
      optimizer.dispose()
      model.dispose()
    })
  }

  it('does not leak tensors across training steps', () => {
    const model = new DiT(config(), 1)
    const objective = createObjective('ddpm')
    const optimizer = tf.train.adam(1e-3)
    const next = batches(8, 4)
    const step = (i: number): void => {
      expertTrainStep(model, objective, optimizer, next(), { u: new Float32Array(8).fill(0.5), noiseSeed: i })
    }
    step(0) // the optimizer creates its moment variables on the first step
    const before = tf.memory().numTensors
    for (let i = 1; i < 4; i++) step(i)
    expect(tf.memory().numTensors).toBe(before)
    optimizer.dispose()
    model.dispose()
  })
})
