/**
 * Training on the webgpu backend (fused WGSL kernels, AdamW on the GPU) against the native one in
 * the same process: one full step of `tiny` and `small` (loss, gradient norm, every updated
 * parameter), a 20-step loss curve of `tiny`, and no tensor or buffer growth over those steps.
 * Each configuration runs the same seeded model on the same MNIST batch; lavapipe compiles each
 * new shader for seconds on first use (cached in MESA_SHADER_CACHE_DIR), so the batch is small.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadMnist } from '../../src/data/mnist.js'
import { flowMatching } from '../../src/diffusion/objectives/flow.js'
import { EXPERT_PRESETS, type ExpertPresetName } from '../../src/model/config.js'
import { DiT } from '../../src/model/dit.js'
import { disposeBackend, initBackend, type BackendName } from '../../src/runtime/backend.js'
import { Adam } from '../../src/training/adam.js'
import { expertTrainStep, type ExpertBatch, type StepResult } from '../../src/training/train-step.js'
import { values } from './helpers.js'
import { useWebGpuBackend } from './webgpu-env.js'

const ADAM = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 }
const B = 8
let batch: ExpertBatch

interface Run {
  steps: StepResult[]
  params: Map<string, Float32Array>
  /** Tensors, backend data ids and GPU bytes after step 3 and after the last step. */
  memory: unknown[]
}

async function train (backend: BackendName, preset: ExpertPresetName, steps: number): Promise<Run> {
  if (backend === 'webgpu') await useWebGpuBackend()
  else await initBackend({ backend, threads: 2 })
  const model = new DiT(EXPERT_PRESETS[preset], 7)
  // DiT zero-initialises the output layer, so a first step would train that layer only: give it
  // weights, and every parameter gets a gradient from step one.
  const out0 = model.params.get('final_layer.linear.weight')
  tf.tidy(() => { out0.assign(tf.tensor(values(out0.size, 99, -0.05, 0.05), out0.shape)) })
  const optimizer = new Adam(model.params, ADAM)
  const run: Run = { steps: [], params: new Map(), memory: [] }
  const memory = (): unknown => {
    const m = tf.memory() as tf.MemoryInfo & { numBytesInGPUAllocated?: number }
    return { tensors: m.numTensors, dataIds: tf.engine().backend.numDataIds(), gpuBytes: m.numBytesInGPUAllocated }
  }
  for (let s = 0; s < steps; s++) {
    const random = { u: values(B, 300 + s, 0, 1), noiseSeed: 11 + s }
    run.steps.push(expertTrainStep(model, flowMatching(), optimizer, batch, random))
    if (s === 2 || s === steps - 1) run.memory.push(memory())
  }
  for (const [name, v] of model.params.variables) run.params.set(name, Float32Array.from(v.dataSync()))
  optimizer.dispose()
  model.dispose()
  return run
}

function maxParamDiff (a: Run, b: Run): number {
  let diff = 0
  for (const [name, p] of a.params) {
    const q = b.params.get(name)!
    for (let i = 0; i < p.length; i++) diff = Math.max(diff, Math.abs(p[i] - q[i]))
  }
  return diff
}

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b)

beforeAll(async () => {
  const data = await loadMnist({ split: 'test' })
  const images = Float32Array.from(data.pixels.subarray(0, B * 784), p => p / 127.5 - 1)
  const L = EXPERT_PRESETS.tiny.promptTokens
  const tokens = new Int32Array(B * L)
  for (let i = 0; i < B; i++) tokens[i * L] = 4 + (data.labels?.[i] ?? 0)
  batch = { images, tokens }
})
afterAll(async () => { await disposeBackend() })

describe('training on webgpu equals native', () => {
  // Tolerance: float32 sums in another order. Adam's first steps move each weight by about lr
  // (1e-3) whatever the gradient's size, and by g / (|g| + eps) of it where |g| is near eps, so a
  // gradient that cancels to ~1e-8 amplifies rounding: measured up to 2.8e-5 (small), allowed
  // lr / 10. A gradient of the wrong sign or size anywhere would show as 1e-3 to 2e-3.
  for (const preset of ['tiny', 'small'] as ExpertPresetName[]) {
    it(`one full step of ${preset}: loss, gradient norm and every updated parameter`, async () => {
      const native = await train('native', preset, 1)
      const gpu = await train('webgpu', preset, 1)
      expect(rel(gpu.steps[0].loss, native.steps[0].loss)).toBeLessThan(1e-5)
      expect(rel(gpu.steps[0].gradNorm, native.steps[0].gradNorm)).toBeLessThan(1e-4)
      expect(maxParamDiff(gpu, native)).toBeLessThan(1e-4)
    }, 240_000)
  }

  it('20 steps of tiny: the same loss curve, and no tensor or GPU buffer growth after warm-up', async () => {
    const native = await train('native', 'tiny', 20)
    const gpu = await train('webgpu', 'tiny', 20)
    gpu.steps.forEach((s, i) => { expect(rel(s.loss, native.steps[i].loss), `step ${i + 1}`).toBeLessThan(1e-4) })
    expect(gpu.steps[19].loss).toBeLessThan(gpu.steps[0].loss)
    expect(maxParamDiff(gpu, native)).toBeLessThan(1e-4)
    expect(gpu.memory[1]).toEqual(gpu.memory[0])
  }, 240_000)
})
