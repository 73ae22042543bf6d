import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { cosineSchedule } from '../../src/diffusion/schedule.js'
import { ddpm } from '../../src/diffusion/objectives/index.js'

beforeAll(async () => { await tf.setBackend('cpu') })

describe('DDPM objective with min-SNR-gamma weighting', () => {
  const schedule = cosineSchedule(1000)
  const x0 = tf.randomUniform([6, 4, 4, 1], -1, 1, 'float32', 1) as tf.Tensor4D
  const eps = tf.randomNormal([6, 4, 4, 1], 0, 1, 'float32', 2) as tf.Tensor4D
  const u = new Float32Array([0, 0.05, 0.3, 0.6, 0.9, 0.999])

  it('weights each image by min(SNR, gamma) / SNR: low-noise steps less, high-noise steps fully', () => {
    const example = ddpm(schedule, {}, { minSnrGamma: 5 }).trainingExample(x0, eps, u)
    const weights = example.weight!.dataSync()
    const steps = example.time.dataSync()
    steps.forEach((s, i) => {
      const snr = schedule.alphasCumprod[s] / (1 - schedule.alphasCumprod[s])
      expect(weights[i]).toBeCloseTo(Math.min(snr, 5) / snr, 5)
    })
    expect(weights[0]).toBeLessThan(0.01)
    expect(weights[5]).toBe(1)
    tf.dispose([example.input, example.time, example.target, example.weight!])
  })

  it('without gamma is the plain eps MSE, and with unit weights the weighted loss equals it', () => {
    const plain = ddpm(schedule).trainingExample(x0, eps, u)
    expect(plain.weight).toBeUndefined()
    const objective = ddpm(schedule)
    const prediction = tf.zerosLike(plain.target) as tf.Tensor4D
    const a = objective.loss(prediction, plain.target).dataSync()[0]
    const b = objective.loss(prediction, plain.target, tf.ones([6]) as tf.Tensor1D).dataSync()[0]
    expect(b).toBeCloseTo(a, 6)
    expect(a).toBeCloseTo(tf.tidy(() => tf.mean(tf.square(eps)).dataSync()[0]), 6)
  })
})
