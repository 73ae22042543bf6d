/**
 * Full training steps of a model preset on real MNIST: the native backend against wasm (same
 * losses), and no tensor, backend-buffer or pool growth over many native steps.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadMnist } from '../../src/data/mnist.js'
import { flowMatching } from '../../src/diffusion/objectives/flow.js'
import { EXPERT_PRESETS, type ExpertPresetName } from '../../src/model/config.js'
import { DiT } from '../../src/model/dit.js'
import { disposeBackend, initBackend, type BackendName } from '../../src/runtime/backend.js'
import { nativePoolStats } from '../../src/runtime/native/install.js'
import { Adam } from '../../src/training/adam.js'
import { expertTrainStep, type ExpertBatch } from '../../src/training/train-step.js'
import { values } from './helpers.js'

let batch: ExpertBatch

/** torch's AdamW defaults without weight decay, as the trainer's Adam runs by default. */
const ADAM = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 }

/** The first `size` MNIST test digits in [-1, 1], prompted by their label. */
async function mnistBatch (size: number, promptTokens: number): Promise<ExpertBatch> {
  const data = await loadMnist({ split: 'test' })
  const pixels = data.width * data.height
  const images = Float32Array.from(data.pixels.subarray(0, size * pixels), p => p / 127.5 - 1)
  const tokens = new Int32Array(size * promptTokens)
  for (let i = 0; i < size; i++) tokens[i * promptTokens] = 4 + (data.labels?.[i] ?? 0)
  return { images, tokens }
}

/** Losses of `steps` training steps from the same seeded model. */
async function losses (backend: BackendName, preset: ExpertPresetName, steps: number): Promise<number[]> {
  await initBackend({ backend, threads: 2 })
  const model = new DiT(EXPERT_PRESETS[preset], 7)
  const optimizer = new Adam(model.params, ADAM)
  const out: number[] = []
  for (let s = 0; s < steps; s++) {
    const random = { u: values(16, 300 + s, 0, 1), noiseSeed: 11 + s }
    out.push(expertTrainStep(model, flowMatching(), optimizer, batch, random).loss)
  }
  optimizer.dispose()
  model.dispose()
  return out
}

describe('training steps on the native backend', () => {
  beforeAll(async () => { batch = await mnistBatch(16, EXPERT_PRESETS.small.promptTokens) })
  afterAll(async () => { await disposeBackend() })

  it('give the same losses as on wasm for the small preset', async () => {
    const wasm = await losses('wasm', 'small', 3)
    const native = await losses('native', 'small', 3)
    native.forEach((l, i) => { expect(Math.abs(l - wasm[i]) / wasm[i]).toBeLessThan(1e-4) })
    expect(native[2]).toBeLessThan(native[0])
  })

  it('leak no tensors, backend buffers or pool memory over many steps', async () => {
    await initBackend({ backend: 'native', threads: 2 })
    const model = new DiT(EXPERT_PRESETS.tiny, 3)
    const optimizer = new Adam(model.params, ADAM)
    const step = (s: number): void => {
      expertTrainStep(model, flowMatching(), optimizer, batch, { u: values(16, s, 0, 1), noiseSeed: s })
    }
    for (let s = 0; s < 3; s++) step(s)
    const memory = (): unknown => ({
      tensors: tf.memory().numTensors, dataIds: tf.engine().backend.numDataIds(), idle: nativePoolStats()?.idleBytes
    })
    const before = memory()
    for (let s = 3; s < 23; s++) step(s)
    expect(memory()).toEqual(before)
    optimizer.dispose()
    model.dispose()
  })
})
