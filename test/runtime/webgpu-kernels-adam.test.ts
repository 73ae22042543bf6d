/**
 * The fused AdamW step of the webgpu backend (src/runtime/webgpu/kernels-adam.ts) against the
 * tfjs-op update the optimizer falls back to, over several steps; in place only where no one
 * else can see the buffer; and the optimizer (training/adam.ts) taking it on webgpu.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, describe, expect, it } from 'vitest'
import { Params } from '../../src/model/params.js'
import type { AdamStepHyper } from '../../src/runtime/adam-step.js'
import { adamStepWebGpu } from '../../src/runtime/webgpu/kernels-adam.js'
import { Adam, type AdamInit } from '../../src/training/adam.js'
import { relErr, values } from './helpers.js'
import { read, releaseWebGpu, useCpu, useWebGpu } from './webgpu-fixture.js'

const SETTINGS: AdamInit = { learningRate: 0.01, beta1: 0.8, beta2: 0.95, epsilon: 1e-6, weightDecay: 0.1 }
const SHAPE = [10, 101]   // 1010 elements: the last workgroup of 64 is partial
const N = 1010
const STEPS = 4

function hyperAt (step: number): AdamStepHyper {
  const { learningRate, beta1, beta2, epsilon, weightDecay } = SETTINGS
  const n = step + 1
  const [biasCorrection1, biasCorrection2] = [1 - beta1 ** n, 1 - beta2 ** n]
  return { learningRate, beta1, beta2, epsilon, weightDecay, biasCorrection1, biasCorrection2 }
}

/** The tfjs-op update of training/adam.ts (its fallback), written out. */
function tfjsStep (p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, h: AdamStepHyper): void {
  tf.tidy(() => {
    const { beta1: b1, beta2: b2, learningRate: lr } = h
    const mNew = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1))
    const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2))
    m.assign(mNew)
    v.assign(vNew)
    const denom = tf.add(tf.mul(tf.sqrt(vNew), 1 / Math.sqrt(h.biasCorrection2)), h.epsilon)
    p.assign(tf.sub(tf.mul(p, 1 - lr * h.weightDecay), tf.mul(tf.div(mNew, denom), lr / h.biasCorrection1)))
  })
}

type Step = typeof tfjsStep | typeof adamStepWebGpu

/** STEPS updates of fresh state; returns p, m, v and whether every update kept p's buffer. */
async function run (step: Step): Promise<{ values: Float32Array[], inPlace: boolean }> {
  const [p, m] = [1, 2].map(seed => tf.variable(tf.tensor(values(N, seed), SHAPE), false))
  const v = tf.variable(tf.tensor(values(N, 3, 0, 1), SHAPE), false)
  let inPlace = true
  for (let i = 0; i < STEPS; i++) {
    const g = tf.tensor(values(N, 10 + i), SHAPE)
    const id = p.dataId
    expect(step(p, g, m, v, hyperAt(i))).not.toBe(false)
    if (i > 0 && p.dataId !== id) inPlace = false   // the first update moves the initial upload's buffer
    g.dispose()
  }
  const out = await read(() => [p, m, v].map(t => tf.clone(t)))
  tf.dispose([p, m, v])
  return { values: out, inPlace }
}

describe('adamStepWebGpu', () => {
  afterAll(async () => { await releaseWebGpu() })

  it('matches the tfjs-op AdamW over several steps, updating in place', async () => {
    await useCpu()
    const reference = await run(tfjsStep)
    await useWebGpu()
    const fused = await run(adamStepWebGpu)
    // float32 on both sides, the same formula; measured at most 2.3e-7 (m) on lavapipe.
    fused.values.forEach((got, i) => {
      expect(relErr(got, reference.values[i]), ['p', 'm', 'v'][i]).toBeLessThan(1e-6)
    })
    expect(fused.inPlace).toBe(true)
  })

  it('leaves a tensor that shares the moment\'s buffer untouched', async () => {
    await useWebGpu()
    const [p, m, v] = [1, 2, 3].map(i => tf.variable(tf.fill([4, 4], i), false))
    const g = tf.ones([4, 4])
    const held = tf.clone(m)      // shares m's buffer, as a checkpoint writer's tensor would
    expect(adamStepWebGpu(p, g, m, v, hyperAt(0))).toBe(true)
    expect(Array.from(await held.data())).toEqual(new Array(16).fill(2))
    expect((await m.data())[0]).toBeCloseTo(0.8 * 2 + 0.2, 6)
    tf.dispose([p, m, v, g, held])
  })

  it('serves the new values after a read cached the old ones on the CPU', async () => {
    await useWebGpu()
    const [p, m, v] = [1, 2, 3].map(i => tf.variable(tf.fill([70], i), false))
    const g = tf.ones([70])
    expect(adamStepWebGpu(p, g, m, v, hyperAt(0))).toBe(true)
    const before = Float32Array.from(await p.data())
    expect(adamStepWebGpu(p, g, m, v, hyperAt(1))).toBe(true)
    const after = await p.data()
    expect(after[69]).not.toBe(before[69])
    expect(after[69]).toBeLessThan(before[69])   // a positive gradient lowers the weight
    tf.dispose([p, m, v, g])
  })

  it('declines off the webgpu backend, having changed nothing', async () => {
    await useCpu()
    const [p, m, v] = [1, 2, 3].map(i => tf.variable(tf.fill([2], i), false))
    const g = tf.ones([2])
    expect(adamStepWebGpu(p, g, m, v, hyperAt(0))).toBe(false)
    expect(Array.from(await p.data())).toEqual([1, 1])
    tf.dispose([p, m, v, g])
  })

  it('does not leak tensors or GPU buffers', async () => {
    await useWebGpu()
    const [p, m, v] = [1, 2, 3].map(i => tf.variable(tf.fill([33], i), false))
    const g = tf.ones([33])
    const backend = tf.backend() as unknown as { numDataIds: () => number }
    adamStepWebGpu(p, g, m, v, hyperAt(0))
    const before = { tensors: tf.memory().numTensors, dataIds: backend.numDataIds() }
    for (let i = 1; i < 4; i++) adamStepWebGpu(p, g, m, v, hyperAt(i))
    await p.data()
    expect({ tensors: tf.memory().numTensors, dataIds: backend.numDataIds() }).toEqual(before)
    tf.dispose([p, m, v, g])
  })
})

describe('Adam on webgpu', () => {
  afterAll(async () => { await releaseWebGpu() })

  /** Three updates of one weight through the optimizer; its values and whether its buffer stayed. */
  async function train (): Promise<{ weight: Float32Array, kept: boolean }> {
    const params = new Params(0)
    const w = params.fromValues('w.weight', tf.tensor(values(N, 1), SHAPE))
    const adam = new Adam(params, SETTINGS)
    let kept = true
    for (let i = 0; i < 3; i++) {
      const id = w.dataId
      tf.tidy(() => { adam.applyGradients({ [w.name]: tf.tensor(values(N, 20 + i), SHAPE) }) })
      if (i > 0 && w.dataId !== id) kept = false
    }
    const [weight] = await read(() => tf.clone(w))
    adam.dispose()
    w.dispose()
    return { weight, kept }
  }

  it('takes the fused step (the weight keeps its buffer) and matches the cpu run', async () => {
    await useCpu()
    const reference = await train()
    expect(reference.kept).toBe(false)   // the tfjs-op path assigns a new tensor every step
    await useWebGpu()
    const fused = await train()
    expect(fused.kept).toBe(true)
    expect(relErr(fused.weight, reference.weight)).toBeLessThan(1e-6)
  })
})
