/**
 * The fused native kernels (GELU, LayerNorm+modulate, attention) against the composite tfjs
 * versions in src/runtime/fused-ops.ts: values and gradients.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, describe, expect, it } from 'vitest'
import { disposeBackend, initBackend } from '../../src/runtime/backend.js'
import {
  attention, ATTENTION, GELU_TANH, geluTanh, hasFusedKernel, LAYER_NORM_MODULATE, layerNormModulate
} from '../../src/runtime/fused-ops.js'
import { attend, modulate, nativeOutputs, on, relErr, valueAndGrads, type Fn } from './helpers.js'

const cases: Array<[string, string, Fn]> = [
  ['geluTanh', GELU_TANH, valueAndGrads(geluTanh, [[4, 9, 32]])],
  ['layerNormModulate', LAYER_NORM_MODULATE, valueAndGrads(modulate, [[3, 7, 40], [3, 40], [3, 40]])],
  ['self-attention', ATTENTION, valueAndGrads(attend(4), [[3, 10, 32], [3, 10, 32], [3, 10, 32]])],
  ['cross-attention (S != T)', ATTENTION, valueAndGrads(attend(2), [[2, 9, 16], [2, 4, 16], [2, 4, 16]])]
]

describe('fused native kernels', () => {
  afterAll(async () => { await disposeBackend() })

  it.each(cases)('%s matches the composite ops in value and gradients', async (_, kernel, fn) => {
    const composite = await on('cpu', fn)
    expect(hasFusedKernel(kernel)).toBe(false)
    const before = nativeOutputs()
    const fused = await on('native', fn)
    expect(hasFusedKernel(kernel)).toBe(true)
    expect(nativeOutputs()).toBeGreaterThan(before)
    fused.forEach((got, i) => { expect(relErr(got, composite[i])).toBeLessThan(1e-5) })
  })

  it('does not leak tensors or backend buffers', async () => {
    await initBackend({ backend: 'native', threads: 1 })
    const run = (): void => { for (const [, , fn] of cases) tf.dispose(tf.tidy(fn)) }
    run()   // warm up: lazily made constants
    const before = { tensors: tf.memory().numTensors, dataIds: tf.engine().backend.numDataIds() }
    for (let i = 0; i < 3; i++) run()
    expect({ tensors: tf.memory().numTensors, dataIds: tf.engine().backend.numDataIds() }).toEqual(before)
  })

  it('rejects inputs of the wrong shape with InvalidArgumentError', async () => {
    await initBackend({ backend: 'native', threads: 1 })
    const q = tf.zeros([2, 3, 10]) as tf.Tensor3D
    expect(() => attention(q, q, q, 3)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }))
    q.dispose()
  })
})

describe('fused-op helpers on other backends', () => {
  afterAll(async () => { await disposeBackend() })

  it('run the composite ops on wasm and match the cpu values', async () => {
    const ref = await on('cpu', cases[2][2])
    const got = await on('wasm', cases[2][2])
    expect(hasFusedKernel(ATTENTION)).toBe(false)
    got.forEach((g, i) => { expect(relErr(g, ref[i])).toBeLessThan(1e-4) })
  })
})
