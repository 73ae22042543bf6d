import * as tf from '@tensorflow/tfjs'
import { afterAll, describe, expect, it } from 'vitest'
import { disposeBackend, initBackend, type BackendName } from '../../src/runtime/backend.js'
import { AdamW, type AdamWInit } from '../../src/runtime/adam.js'
import { adamStepNative } from '../../src/runtime/adam-step.js'
import { relErr, values } from './helpers.js'

const SETTINGS: AdamWInit = { learningRate: 0.01, beta1: 0.8, beta2: 0.95, epsilon: 1e-6, weightDecay: 0.1 }
const SHAPES = [[13, 7], [7]]

/** Gradients that change every step, from plain arrays (identical on every backend). */
function gradsAt (step: number, names: string[]): tf.NamedTensorMap {
  return Object.fromEntries(names.map((name, i) => [name, tf.tensor(values(SHAPES[i].reduce((a, b) => a * b, 1), 50 + 10 * step + i, -1, 1), SHAPES[i])]))
}

/** Runs `steps` updates of fresh variables and returns their final values. */
async function train (backend: BackendName, steps: number, resumeAt?: number): Promise<Float32Array[]> {
  await initBackend({ backend, threads: 1 })
  const vars = SHAPES.map((s, i) => tf.variable(tf.tensor(values(s.reduce((a, b) => a * b, 1), i + 1), s), true, `adam-test-${backend}-${i}-${Math.random()}`))
  const names = vars.map(v => v.name)
  let opt = new AdamW(SETTINGS)
  for (let step = 0; step < steps; step++) {
    if (step === resumeAt) {
      const saved = await opt.getWeights()
      opt.dispose()
      opt = new AdamW(SETTINGS)
      await opt.setWeights(saved)
      tf.dispose(saved.map(w => w.tensor))
    }
    const grads = gradsAt(step, names)
    opt.applyGradients(grads)
    tf.dispose(Object.values(grads))
  }
  const out = vars.map(v => Float32Array.from(v.dataSync()))
  opt.dispose()
  tf.dispose(vars)
  return out
}

/** torch.optim.AdamW's update in double precision. */
function reference (steps: number): Float64Array[] {
  const { learningRate: lr, beta1: b1 = 0, beta2: b2 = 0, epsilon: eps = 0, weightDecay: wd = 0 } = SETTINGS
  return SHAPES.map((s, i) => {
    const n = s.reduce((a, b) => a * b, 1)
    const p = Float64Array.from(values(n, i + 1))
    const m = new Float64Array(n)
    const v = new Float64Array(n)
    for (let step = 0; step < steps; step++) {
      const g = values(n, 50 + 10 * step + i, -1, 1)
      const bc1 = 1 - b1 ** (step + 1)
      const bc2 = 1 - b2 ** (step + 1)
      for (let j = 0; j < n; j++) {
        p[j] *= 1 - lr * wd
        m[j] = b1 * m[j] + (1 - b1) * g[j]
        v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
        p[j] -= lr / bc1 * m[j] / (Math.sqrt(v[j]) / Math.sqrt(bc2) + eps)
      }
    }
    return p
  })
}

const backends: BackendName[] = ['cpu', 'wasm', 'native']

describe('AdamW', () => {
  afterAll(async () => { await disposeBackend() })

  it.each(backends)('follows AdamW on %s', async (backend) => {
    const got = await train(backend, 6)
    reference(6).forEach((ref, i) => { expect(relErr(got[i], ref)).toBeLessThan(2e-6) })
  })

  it.each(backends)('resumes from getWeights/setWeights on %s exactly as if never stopped', async (backend) => {
    const straight = await train(backend, 6)
    const resumed = await train(backend, 6, 3)
    resumed.forEach((r, i) => { expect(Array.from(r)).toEqual(Array.from(straight[i])) })
  })

  it('never changes an array user code holds (copy on write)', async () => {
    await initBackend({ backend: 'native', threads: 1 })
    const init = tf.add(tf.zeros([5, 5]), 1)
    const v = tf.variable(init, true, `adam-cow-${Math.random()}`)
    const opt = new AdamW(SETTINGS)
    const step = (): void => { const g = { [v.name]: tf.ones([5, 5]) }; opt.applyGradients(g); tf.dispose(Object.values(g)) }
    step()                             // copies: `init` still shares the buffer
    init.dispose()
    const ownId = v.dataId
    step()
    expect(v.dataId).toBe(ownId)       // in place: the buffer is the optimizer's alone
    const held = v.dataSync()          // the backing array of the parameter escapes
    const copy = Float32Array.from(held)
    step()
    expect(v.dataId).not.toBe(ownId)   // copy on write
    expect(held).toEqual(copy)
    expect(v.dataSync()[0]).toBeLessThan(copy[0])
    opt.dispose()
    v.dispose()
  })

  it('adamStepNative leaves moments a checkpoint writer has read untouched', async () => {
    await initBackend({ backend: 'native', threads: 1 })
    const [p, m, v] = [1, 2, 3].map(i => tf.variable(tf.fill([4, 4], i), false))
    const g = tf.ones([4, 4])
    const hyper = { learningRate: 0.1, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0, biasCorrection1: 0.1, biasCorrection2: 0.01 }
    expect(adamStepNative(p, g, m, v, hyper)).toBe(true)
    const held = m.dataSync()           // as a checkpoint writer would
    const copy = Float32Array.from(held)
    expect(adamStepNative(p, g, m, v, hyper)).toBe(true)
    expect(held).toEqual(copy)
    expect(m.dataSync()[0]).not.toBe(copy[0])
    tf.dispose([p, m, v, g])
  })

  it('adamStepNative declines off the native backend', async () => {
    await initBackend({ backend: 'cpu' })
    const [p, m, v] = [1, 2, 3].map(i => tf.variable(tf.fill([2], i), false))
    const g = tf.ones([2])
    expect(adamStepNative(p, g, m, v, { learningRate: 0.1, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0, biasCorrection1: 0.1, biasCorrection2: 0.01 })).toBe(false)
    expect(Array.from(p.dataSync())).toEqual([1, 1])
    tf.dispose([p, m, v, g])
  })

  it.each(backends)('does not leak tensors over many steps on %s', async (backend) => {
    await initBackend({ backend, threads: 1 })
    const v = tf.variable(tf.zeros([8, 8]), true, `adam-leak-${backend}-${Math.random()}`)
    const opt = new AdamW(SETTINGS)
    const step = (): void => { const g = { [v.name]: tf.ones([8, 8]) }; opt.applyGradients(g); tf.dispose(Object.values(g)) }
    step()
    const before = tf.memory().numTensors
    for (let i = 0; i < 20; i++) step()
    expect(tf.memory().numTensors).toBe(before)
    opt.dispose()
    v.dispose()
  })

  it('rejects invalid settings and unknown variables with InvalidArgumentError', async () => {
    expect(() => new AdamW({ learningRate: -1 })).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }))
    const opt = new AdamW({ learningRate: 0.1 })
    const g = tf.ones([2])
    expect(() => { opt.applyGradients({ 'no-such-variable': g }) }).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }))
    g.dispose()
    opt.dispose()
  })
})
