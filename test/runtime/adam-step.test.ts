/**
 * The fused AdamW update of the native backend (src/runtime/adam-step.ts): torch.optim.AdamW's
 * formula, in place only on buffers nobody else holds, and a no-op elsewhere. The optimizer that
 * calls it is tested in test/training/adam.test.ts.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, describe, expect, it } from 'vitest'
import { disposeBackend, initBackend } from '../../src/runtime/backend.js'
import { adamStepNative, type AdamStepHyper } from '../../src/runtime/adam-step.js'
import { relErr, values } from './helpers.js'

const HYPER: AdamStepHyper = {
  learningRate: 0.01, beta1: 0.8, beta2: 0.95, epsilon: 1e-6, weightDecay: 0.1,
  biasCorrection1: 0.2, biasCorrection2: 0.05
}

/** One torch.optim.AdamW update in double precision: the new parameter and moments. */
function reference (
  p0: Float32Array, g: Float32Array, m0: Float32Array, v0: Float32Array, h: AdamStepHyper
): Float64Array[] {
  const [p, m, v] = [p0, m0, v0].map(a => Float64Array.from(a))
  for (let j = 0; j < p.length; j++) {
    p[j] *= 1 - h.learningRate * h.weightDecay
    m[j] = h.beta1 * m[j] + (1 - h.beta1) * g[j]
    v[j] = h.beta2 * v[j] + (1 - h.beta2) * g[j] * g[j]
    p[j] -= h.learningRate / h.biasCorrection1 * m[j] / (Math.sqrt(v[j]) / Math.sqrt(h.biasCorrection2) + h.epsilon)
  }
  return [p, m, v]
}

describe('adamStepNative', () => {
  afterAll(async () => { await disposeBackend() })

  it('applies torch.optim.AdamW\'s update to the parameter and both moments', async () => {
    await initBackend({ backend: 'native', threads: 1 })
    const n = 91
    const [p0, g0, m0] = [1, 2, 3].map(seed => values(n, seed))
    const v0 = values(n, 4, 0, 1)
    const [p, m, v] = [p0, m0, v0].map(a => tf.variable(tf.tensor(a), false))
    const g = tf.tensor(g0)
    expect(adamStepNative(p, g, m, v, HYPER)).toBe(true)
    const expected = reference(p0, g0, m0, v0, HYPER)
    ;[p, m, v].forEach((t, i) => { expect(relErr(t.dataSync(), expected[i])).toBeLessThan(2e-6) })
    tf.dispose([p, m, v, g])
  })

  it('leaves moments a checkpoint writer has read untouched', async () => {
    await initBackend({ backend: 'native', threads: 1 })
    const [p, m, v] = [1, 2, 3].map(i => tf.variable(tf.fill([4, 4], i), false))
    const g = tf.ones([4, 4])
    expect(adamStepNative(p, g, m, v, HYPER)).toBe(true)
    const held = m.dataSync()           // as a checkpoint writer would
    const copy = Float32Array.from(held)
    expect(adamStepNative(p, g, m, v, HYPER)).toBe(true)
    expect(held).toEqual(copy)
    expect(m.dataSync()[0]).not.toBe(copy[0])
    tf.dispose([p, m, v, g])
  })

  it('declines off the native backend, having changed nothing', async () => {
    await initBackend({ backend: 'cpu' })
    const [p, m, v] = [1, 2, 3].map(i => tf.variable(tf.fill([2], i), false))
    const g = tf.ones([2])
    expect(adamStepNative(p, g, m, v, HYPER)).toBe(false)
    expect(Array.from(p.dataSync())).toEqual([1, 1])
    tf.dispose([p, m, v, g])
  })
})
