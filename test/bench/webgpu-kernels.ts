/**
 * The WGSL fused kernels against tfjs-webgpu's composite ops (HDDM_FUSED=0) at the `small`
 * expert preset's shapes (B 32, T 49, D 128, 4 heads, MLP 512, prompt S 4): forward, and forward
 * plus gradients; and the fused AdamW step against the optimizer's tfjs ops over one block's
 * parameters. Prints composite time / fused time (a ratio, since absolute times say more about
 * the adapter, lavapipe here, than the kernels).
 *
 *   npm run bench test/bench/webgpu-kernels.ts -- [iterations=10]
 */
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { EXPERT_PRESETS, tokenCount } from '../../src/model/config.js'
import { attention, geluTanh, layerNormModulate } from '../../src/runtime/fused-ops.js'
import { loadWebGpu, unloadWebGpu } from '../../src/runtime/webgpu/backend.js'
import { installWebGpuKernels } from '../../src/runtime/webgpu/install-kernels.js'
import { adamStepWebGpu } from '../../src/runtime/webgpu/kernels-adam.js'
import type { AdamStepHyper } from '../../src/runtime/adam-step.js'

process.env.MESA_SHADER_CACHE_DIR ??= path.resolve('node_modules/.cache/mesa')
process.env.XDG_RUNTIME_DIR ??= os.tmpdir()
const iterations = Number(process.argv[2] ?? 10)
const adapter = await loadWebGpu({ allowFallback: true })
const uninstall = installWebGpuKernels()

const preset = EXPERT_PRESETS.small
const [B, T, D, H, S] = [32, tokenCount(preset), preset.hidden, preset.heads, preset.promptTokens]
const rand = (shape: number[]): tf.Tensor => tf.randomNormal(shape, 0, 1, 'float32', 1)

type Op = (...xs: tf.Tensor[]) => tf.Tensor
const forward = (f: Op, xs: tf.Tensor[]): tf.Tensor[] => [f(...xs)]
const withGrads = (f: Op, xs: tf.Tensor[]): tf.Tensor[] => tf.grads((...a: tf.Tensor[]) => tf.sum(f(...a)))(xs)

/**
 * Fastest ms of one run of `body`, its outputs summed and the sum read back (so the queue has
 * drained, without timing the copy of whole tensors). The fastest, not the median: this machine
 * is shared, and other processes only ever add time.
 */
async function time (body: () => tf.Tensor[]): Promise<number> {
  const once = async (): Promise<number> => {
    const start = performance.now()
    const total = tf.tidy(() => tf.addN(body().map(t => tf.sum(t))))
    await total.data()
    total.dispose()
    return performance.now() - start
  }
  await once()   // compile the shaders
  let best = Infinity
  for (let i = 0; i < iterations; i++) best = Math.min(best, await once())
  return best
}

async function compare (name: string, body: () => tf.Tensor[]): Promise<void> {
  process.env.HDDM_FUSED = '0'
  const composite = await time(body)
  delete process.env.HDDM_FUSED
  const fused = await time(body)
  console.log(`${name.padEnd(44)} composite/fused ${(composite / fused).toFixed(2)}`)
}

const x = rand([B, T, D])
const hidden = rand([B, T, 4 * D])
const cond = [rand([B, D]), rand([B, D])]
const prompt = rand([B, S, D])
const t3 = (t: tf.Tensor): tf.Tensor3D => t as tf.Tensor3D
const t2 = (t: tf.Tensor): tf.Tensor2D => t as tf.Tensor2D
const ops: Array<[string, Op, tf.Tensor[]]> = [
  [`geluTanh [${B}, ${T}, ${4 * D}]`, geluTanh, [hidden]],
  [`layerNormModulate [${B}, ${T}, ${D}]`, (a, b, c) => layerNormModulate(t3(a), t2(b), t2(c)), [x, ...cond]],
  [`self-attention T=S=${T}, ${H} heads`, (q, k, v) => attention(t3(q), t3(k), t3(v), H), [x, x, x]],
  [`cross-attention T=${T} S=${S}, ${H} heads`, (q, k, v) => attention(t3(q), t3(k), t3(v), H), [x, prompt, prompt]]
]
console.log(`adapter: ${adapter.description} (${adapter.vendor}); fastest of ${iterations}`)
for (const [name, f, xs] of ops) {
  await compare(`${name} forward`, () => forward(f, xs))
  await compare(`${name} forward + grads`, () => withGrads(f, xs))
}

// One block's parameters (qkv, attention projection, MLP), stepped 1 time per run.
const shapes = [[D, 3 * D], [3 * D], [D, D], [D], [D, 4 * D], [4 * D], [4 * D, D], [D]]
const slots = shapes.map(s => ({ p: tf.variable(rand(s)), m: tf.variable(tf.zeros(s)), v: tf.variable(tf.zeros(s)) }))
const grads = shapes.map(s => rand(s))
const hyper: AdamStepHyper = {
  learningRate: 1e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0,
  biasCorrection1: 0.1, biasCorrection2: 0.001   // step 1: lr / bc1 = 1e-3 below
}
const tfjsStep = (): tf.Tensor[] => {
  slots.forEach(({ p, m, v }, i) => {
    const g = grads[i]
    const mNew = tf.add(tf.mul(m, 0.9), tf.mul(g, 0.1))
    const vNew = tf.add(tf.mul(v, 0.999), tf.mul(tf.square(g), 0.001))
    m.assign(mNew)
    v.assign(vNew)
    p.assign(tf.sub(p, tf.mul(tf.div(mNew, tf.add(tf.mul(tf.sqrt(vNew), 1 / Math.sqrt(0.001)), 1e-8)), 1e-3)))
  })
  return [tf.clone(slots[7].p)]
}
const fusedStep = (): tf.Tensor[] => {
  slots.forEach(({ p, m, v }, i) => adamStepWebGpu(p, grads[i], m, v, hyper))
  return [tf.clone(slots[7].p)]
}
const composite = await time(tfjsStep)
const fused = await time(fusedStep)
console.log(`${'AdamW step, one block (8 tensors)'.padEnd(44)} composite/fused ${(composite / fused).toFixed(2)}`)

uninstall()
unloadWebGpu()
