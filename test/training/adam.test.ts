/**
 * The trainer's optimizer (src/training/adam.ts): torch.optim.AdamW on every backend, a resume
 * from its named tensors that is bit-identical to never stopping, and no leaks.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, describe, expect, it } from 'vitest'
import { Params } from '../../src/model/params.js'
import { disposeBackend, initBackend, type BackendName } from '../../src/runtime/backend.js'
import { Adam, type AdamInit } from '../../src/training/adam.js'
import { relErr, values } from '../runtime/helpers.js'

const SETTINGS: AdamInit = { learningRate: 0.01, beta1: 0.8, beta2: 0.95, epsilon: 1e-6, weightDecay: 0.1 }
const SHAPES: Record<string, number[]> = { 'w.weight': [13, 7], 'w.bias': [7] }
const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1)

function freshParams (): Params {
  const params = new Params(0)
  Object.entries(SHAPES).forEach(([name, shape], i) => {
    params.fromValues(name, tf.tensor(values(size(shape), i + 1), shape))
  })
  return params
}

/** Gradients that change every step, from plain arrays (identical on every backend), by variable name. */
function gradsAt (step: number, params: Params): tf.NamedTensorMap {
  const variables = [...params.variables.values()]
  const grad = (v: tf.Variable, i: number): tf.Tensor => tf.tensor(values(v.size, 50 + 10 * step + i, -1, 1), v.shape)
  return Object.fromEntries(variables.map((v, i) => [v.name, grad(v, i)]))
}

/** Runs `steps` updates of fresh parameters and returns their final values. */
async function train (backend: BackendName, steps: number, resumeAt?: number): Promise<Float32Array[]> {
  await initBackend({ backend, threads: 1 })
  let params = freshParams()
  let adam = new Adam(params, SETTINGS)
  for (let step = 0; step < steps; step++) {
    if (step === resumeAt) {
      // What a checkpoint holds: the weights and the moments by parameter name, and the step.
      const saved = [...params.variables].map(([name, v]) => ({ name, v: tf.clone(v) }))
      // Copied, as a checkpoint file is: the arrays toTensors hands out die with the optimizer.
      const moments = new Map([...adam.toTensors()].map(([k, t]) => [k, { ...t, data: Float32Array.from(t.data) }]))
      const stepsDone = adam.step
      adam.dispose()
      params.dispose()
      params = new Params(0)
      for (const { name, v } of saved) params.fromValues(name, v)
      adam = new Adam(params, SETTINGS)
      adam.load(moments, stepsDone)
    }
    const grads = gradsAt(step, params)
    adam.applyGradients(grads)
    tf.dispose(Object.values(grads))
  }
  const out = [...params.variables.values()].map(v => Float32Array.from(v.dataSync()))
  adam.dispose()
  params.dispose()
  return out
}

/** torch.optim.AdamW's update in double precision. */
function reference (steps: number): Float64Array[] {
  const { learningRate: lr, beta1: b1, beta2: b2, epsilon: eps, weightDecay: wd } = SETTINGS
  return Object.values(SHAPES).map((shape, i) => {
    const n = size(shape)
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

describe('Adam', () => {
  afterAll(async () => { await disposeBackend() })

  it.each(backends)('follows torch.optim.AdamW on %s', async (backend) => {
    const got = await train(backend, 6)
    reference(6).forEach((ref, i) => { expect(relErr(got[i], ref)).toBeLessThan(2e-6) })
  })

  it.each(backends)('resumes from its named tensors on %s exactly as if never stopped', async (backend) => {
    const straight = await train(backend, 6)
    const resumed = await train(backend, 6, 3)
    resumed.forEach((r, i) => { expect(Array.from(r)).toEqual(Array.from(straight[i])) })
  })

  it('never changes an array user code holds (copy on write)', async () => {
    await initBackend({ backend: 'native', threads: 1 })
    const params = new Params(0)
    const init = tf.add(tf.zeros([5, 5]), 1)
    const v = params.fromValues('p', tf.clone(init))
    const adam = new Adam(params, SETTINGS)
    const step = (): void => {
      const g = { [v.name]: tf.ones([5, 5]) }
      adam.applyGradients(g)
      tf.dispose(Object.values(g))
    }
    step()
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
    adam.dispose()
    params.dispose()
  })

  it.each(backends)('does not leak tensors over many steps on %s', async (backend) => {
    await initBackend({ backend, threads: 1 })
    const params = new Params(0)
    const v = params.zeros('p', [8, 8])
    const adam = new Adam(params, SETTINGS)
    const step = (): void => {
      const g = { [v.name]: tf.ones([8, 8]) }
      adam.applyGradients(g)
      tf.dispose(Object.values(g))
    }
    step()
    const before = tf.memory().numTensors
    for (let i = 0; i < 20; i++) step()
    expect(tf.memory().numTensors).toBe(before)
    adam.dispose()
    params.dispose()
  })

  it('refuses a gradient for a variable it does not optimize', async () => {
    await initBackend({ backend: 'cpu' })
    const params = new Params(0)
    params.zeros('p', [2])
    const adam = new Adam(params, SETTINGS)
    const g = tf.ones([2])
    expect(() => { adam.applyGradients({ 'no-such-variable': g }) }).toThrow(/unknown variable/)
    g.dispose()
    adam.dispose()
    params.dispose()
  })
})
