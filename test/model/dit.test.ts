import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { EXPERT_PRESETS, ROUTER_PRESETS } from '../../src/model/config.js'
import { DiT } from '../../src/model/dit.js'
import { Router } from '../../src/model/router.js'
import { denseExplicitTranspose, patchify, unpatchify } from '../../src/model/layers.js'

beforeAll(async () => { await tf.setBackend('cpu') })

describe('layers', () => {
  it('the explicit-transpose dense layer has the gradients of tf.matMul', () => {
    const x = tf.randomNormal([7, 5], 0, 1, 'float32', 1) as tf.Tensor2D
    const w = tf.randomNormal([5, 3], 0, 1, 'float32', 2) as tf.Tensor2D
    const b = tf.randomNormal([3], 0, 1, 'float32', 3) as tf.Tensor1D
    const dy = tf.randomNormal([7, 3], 0, 1, 'float32', 4)
    const dense = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor =>
      denseExplicitTranspose(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D)
    const fast = tf.grads(dense)([x, w, b], dy)
    const reference = tf.grads((x, w, b) => tf.add(tf.matMul(x, w), b))([x, w, b], dy)
    for (let i = 0; i < 3; i++) expect(tf.max(tf.abs(tf.sub(fast[i], reference[i]))).dataSync()[0]).toBeLessThan(1e-5)
    tf.dispose([x, w, b, dy, ...fast, ...reference])
  })

  it('unpatchify inverts patchify', () => {
    const x = tf.randomNormal([2, 28, 28, 3]) as tf.Tensor4D
    const p = patchify(x, 7)
    expect(p.shape).toEqual([2, 16, 49 * 3])
    expect(tf.max(tf.abs(tf.sub(unpatchify(p, 7, 28, 3), x))).dataSync()[0]).toBe(0)
  })
})

describe('DiT expert', () => {
  it('maps [B, H, W, C] to the same shape and starts at zero output (zero-init final layer)', () => {
    for (const adaln of ['single', 'zero'] as const) {
      const model = new DiT({ ...EXPERT_PRESETS.tiny, adaln }, 3)
      const x = tf.randomNormal([3, 28, 28, 1]) as tf.Tensor4D
      const y = model.apply(x, tf.tensor1d([0, 500, 999]), tf.zeros([3, 4], 'int32') as tf.Tensor2D)
      expect(y.shape).toEqual([3, 28, 28, 1])
      expect(tf.max(tf.abs(y)).dataSync()[0]).toBe(0)
      model.dispose()
    }
  })

  it('is deterministic in its seed', () => {
    const a = new DiT(EXPERT_PRESETS.tiny, 5)
    const b = new DiT(EXPERT_PRESETS.tiny, 5)
    const c = new DiT(EXPERT_PRESETS.tiny, 6)
    const name = 'blocks.1.attn.qkv.weight'
    expect(a.params.get(name).dataSync()).toEqual(b.params.get(name).dataSync())
    expect(a.params.get(name).dataSync()).not.toEqual(c.params.get(name).dataSync())
    for (const m of [a, b, c]) m.dispose()
  })

  it('holds one block of activations at a time when sampling, whatever its depth', async () => {
    const peakBytes = async (depth: number): Promise<number> => {
      const model = new DiT({ ...EXPERT_PRESETS.tiny, depth }, 1)
      const x = tf.randomNormal([16, 28, 28, 1]) as tf.Tensor4D
      const t = tf.fill([16], 0.5) as tf.Tensor1D
      const tokens = tf.zeros([16, 4], 'int32') as tf.Tensor2D
      const before = tf.memory().numTensors
      const { peakBytes, result } = await tf.profile(() => model.apply(x, t, tokens))
      tf.dispose([result as tf.Tensor, x, t, tokens])
      expect(tf.memory().numTensors).toBe(before - 3)
      model.dispose()
      return peakBytes
    }
    // One scope for the whole pass held every block's activations: 6 blocks peaked at about 4x one.
    expect(await peakBytes(6)).toBeLessThan(1.5 * await peakBytes(1))
  })

  it('rejects impossible configs with InvalidArgumentError', () => {
    const invalidArgument = expect.objectContaining({ name: 'InvalidArgumentError' })
    expect(() => new DiT({ ...EXPERT_PRESETS.tiny, patchSize: 5 })).toThrow(invalidArgument)
    expect(() => new DiT({ ...EXPERT_PRESETS.tiny, heads: 3 })).toThrow(invalidArgument)
  })
})

describe('router', () => {
  it('gives a posterior over K experts that sums to 1, without leaking tensors', () => {
    const router = new Router(ROUTER_PRESETS['router-tiny'], 1)
    const x = tf.randomNormal([5, 28, 28, 1]) as tf.Tensor4D
    const t = tf.tensor1d([0.1, 0.3, 0.5, 0.7, 0.9])
    tf.dispose(router.posterior(x, t))
    const before = tf.memory().numTensors
    const p = router.posterior(x, t)
    expect(p.shape).toEqual([5, 4])
    const sums = tf.tidy(() => tf.sum(p, 1).dataSync())
    for (const s of sums) expect(s).toBeCloseTo(1, 5)
    p.dispose()
    expect(tf.memory().numTensors).toBe(before)
    tf.dispose([x, t])
    router.dispose()
  })
})

describe('DiT expert, class-conditional (imported DiT weights)', () => {
  const config = {
    ...EXPERT_PRESETS.tiny, adaln: 'zero' as const, conditioning: 'class' as const, numClasses: 10, learnSigma: true,
    promptTokens: 1, vocabSize: 0, textDim: 0
  }

  it('reads a label per image, writes eps (and with withSigma the variance channels too), leaks nothing', () => {
    const model = new DiT(config, 2)
    for (const v of model.params.variables.values()) v.assign(tf.randomNormal(v.shape, 0, 0.1, 'float32', v.size))
    const x = tf.randomNormal([3, 28, 28, 1]) as tf.Tensor4D
    const t = tf.tensor1d([0, 500, 999])
    const labels = tf.tensor2d([[0], [9], [10]], [3, 1], 'int32')   // 10 = no label
    const before = tf.memory().numTensors
    const eps = model.apply(x, t, labels)
    const both = model.apply(x, t, labels, true)
    expect(tf.memory().numTensors).toBe(before + 2)                 // the two outputs, nothing else
    expect(eps.shape).toEqual([3, 28, 28, 1])
    expect(both.shape).toEqual([3, 28, 28, 2])
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(eps, tf.slice(both, 0, [-1, -1, -1, 1])))).dataSync()[0])).toBe(0)
    // The label matters: the same (x, t) with another label gives another prediction.
    const other = tf.tidy(() => model.apply(x, t, tf.tensor2d([[1], [9], [10]], [3, 1], 'int32')))
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(eps, other))).dataSync()[0])).toBeGreaterThan(0)
    tf.dispose([x, t, labels, eps, both, other])
    const names = [...model.params.variables.keys()]
    expect(names.some(n => n.includes('cross_attn') || n.startsWith('text_encoder'))).toBe(false)
    model.dispose()
  })

  it('rejects conditioning fields that cannot build a network with InvalidArgumentError', () => {
    const invalidArgument = expect.objectContaining({ name: 'InvalidArgumentError' })
    const bad: Array<Record<string, unknown>> = [
      { conditioning: 'image' }, { numClasses: 0 }, { numClasses: 1e6 }, { promptTokens: 4 }, { learnSigma: 'yes' },
      { timeFrequencyShift: 2 }, { mlpNormEps: 0 }, { adaln: 'none' }
    ]
    for (const fields of bad) {
      expect(() => new DiT({ ...config, ...fields } as typeof config), JSON.stringify(fields)).toThrow(invalidArgument)
    }
  })
})
