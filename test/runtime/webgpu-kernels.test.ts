/**
 * The WGSL fused kernels (src/runtime/webgpu/) against the composite tfjs ops of
 * src/runtime/fused-ops.ts computed on the cpu backend: values and the gradients with respect to
 * every input, at shapes that leave partial workgroups (T, D and sizes not multiples of 64),
 * head sizes 16 and 32, cross attention (S != T), and batches of 1 and more.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, describe, expect, it } from 'vitest'
import {
  attention, ATTENTION, GELU_TANH, geluTanh, hasFusedKernel, LAYER_NORM_MODULATE, layerNormModulate
} from '../../src/runtime/fused-ops.js'
import { ATTENTION_GRAD } from '../../src/runtime/fused-gradients.js'
import { attend, modulate, relErr, valueAndGrads, type Fn } from './helpers.js'
import { read, releaseWebGpu, useCpu, useWebGpu } from './webgpu-fixture.js'

// Tolerance: max |fused - composite| / max |composite| below 1e-5 for every output, as the native
// kernels are held to. Measured on lavapipe (Mesa 25.0.7): at most 7.1e-7 (attention dk, T=67);
// the sums run in another order (online softmax, workgroup trees) with the driver's exp and tanh.
const TOLERANCE = 1e-5

const cases: Array<[string, string, Fn]> = [
  ['geluTanh [3, 7, 33]', GELU_TANH, valueAndGrads(geluTanh, [[3, 7, 33]])],
  ['layerNormModulate B=2 T=7 D=40', LAYER_NORM_MODULATE, valueAndGrads(modulate, [[2, 7, 40], [2, 40], [2, 40]])],
  ['layerNormModulate B=1 T=3 D=130', LAYER_NORM_MODULATE, valueAndGrads(modulate, [[1, 3, 130], [1, 130], [1, 130]])],
  ['self-attention B=2 T=10 D=32 heads=2 (dh 16)', ATTENTION,
    valueAndGrads(attend(2), [[2, 10, 32], [2, 10, 32], [2, 10, 32]])],
  ['self-attention B=1 T=67 D=64 heads=2 (dh 32)', ATTENTION,
    valueAndGrads(attend(2), [[1, 67, 64], [1, 67, 64], [1, 67, 64]])],
  // heads=1 is not among these: the composite reference's tf.split into one piece has no gradient in tfjs 4.22.
  ['cross-attention B=3 T=9 S=4 D=64 heads=2 (dh 32)', ATTENTION,
    valueAndGrads(attend(2), [[3, 9, 64], [3, 4, 64], [3, 4, 64]])],
  ['cross-attention B=2 T=5 S=70 D=64 heads=4 (dh 16)', ATTENTION,
    valueAndGrads(attend(4), [[2, 5, 64], [2, 70, 64], [2, 70, 64]])]
]

// With MESA_SHADER_CACHE_DIR cold (the first run after a kernel changes), compiling one case's
// shaders took lavapipe up to 50 s on this shared 2-core machine (69 s for the file); once
// cached, 0.3-1.5 s.
const COLD_COMPILE_MS = 300_000

describe('WGSL fused kernels on webgpu', () => {
  afterAll(async () => { await releaseWebGpu() })

  it.each(cases)('%s matches the composite ops in value and gradients', async (_, kernel, fn) => {
    await useCpu()
    expect(hasFusedKernel(kernel)).toBe(false)
    const composite = await read(fn)
    await useWebGpu()
    expect(hasFusedKernel(kernel)).toBe(true)
    const fused = await read(fn)
    expect(fused).toHaveLength(composite.length)
    fused.forEach((got, i) => { expect(relErr(got, composite[i]), `output ${i}`).toBeLessThan(TOLERANCE) })
  }, COLD_COMPILE_MS)

  it('does not leak tensors or GPU buffers', async () => {
    await useWebGpu()
    const run = async (): Promise<void> => { for (const [, , fn] of cases) await read(fn) }
    await run()   // warm up: lazily made constants
    const backend = tf.backend() as unknown as { numDataIds: () => number }
    const before = { tensors: tf.memory().numTensors, dataIds: backend.numDataIds() }
    await run()
    await run()
    expect({ tensors: tf.memory().numTensors, dataIds: backend.numDataIds() }).toEqual(before)
  })

  it('rejects inputs of the wrong shape with InvalidArgumentError', async () => {
    await useWebGpu()
    const q = tf.zeros([2, 3, 10]) as tf.Tensor3D
    const k = tf.zeros([2, 4, 12]) as tf.Tensor3D
    expect(() => attention(q, q, q, 3)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }))
    expect(() => tf.engine().runKernel(ATTENTION_GRAD, { dy: q, q, k, v: k }, { heads: 2 }))
      .toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }))
    tf.dispose([q, k])
  })
})

describe('installWebGpuKernels', () => {
  it('removes the kernels it registered, and the gradients it added', async () => {
    await useWebGpu()
    expect(tf.getGradient(ATTENTION)).toBeDefined()
    await releaseWebGpu()
    expect(tf.getKernel(ATTENTION, 'webgpu')).toBeUndefined()
    expect(tf.getKernel(ATTENTION_GRAD, 'webgpu')).toBeUndefined()
    expect(tf.getGradient(ATTENTION)).toBeUndefined()
  })
})
