/**
 * AdaLN-Zero -> AdaLN-Single (checkpoint/import/adaln-single.ts) measured on a trained network:
 * what the mapping changes in a DDPM expert's predictions away from its reference step, and how
 * many flow-matching steps an FM expert started from the mapped weights needs to catch up with
 * one started from the unmapped AdaLN-Zero weights (docs/MODEL.md, "AdaLN-Zero -> AdaLN-Single").
 *
 *   npx tsx test/bench/adaln-single-mapping.ts --preset mini --ddpm-steps 600 --fm-steps 300 --batch 32
 *
 * 1. An AdaLN-Zero DDPM expert of the preset's shape (hddm's text conditioning) trains on MNIST
 *    cluster 0: the stand-in for a pretrained public DiT, which cannot be downloaded here.
 * 2. It is mapped (adaptInit, reference step --reference, shared MLP 'mean' and block 0); printed:
 *    the relative eps difference and both eps losses on held-out digits at steps 0 .. 999.
 * 3. Three FM experts train on the same batches, times and noise: from the AdaLN-Zero weights as
 *    they are, from the mapped AdaLN-Single weights (both read SNR-matched DDPM steps, final layer
 *    fresh), and from scratch. Printed: window means of the loss, and the mapped run's window
 *    loss over the unmapped one's.
 */
import { parseArgs } from 'node:util'
import * as tf from '@tensorflow/tfjs'
import { ShardBatcher } from '../../src/data/batcher.js'
import { decodeShard } from '../../src/data/shard.js'
import { Tokenizer } from '../../src/data/tokenizer.js'
import { Random } from '../../src/data/random.js'
import { DiT } from '../../src/model/dit.js'
import type { DiTConfig } from '../../src/model/config.js'
import { createObjective } from '../../src/diffusion/objectives/factory.js'
import { CHECKPOINT_FORMAT, paramsToTensors, type Checkpoint } from '../../src/checkpoint/format.js'
import { expertConfig } from '../../src/checkpoint/expert.js'
import { adaptInit } from '../../src/checkpoint/import/adapt.js'
import type { NamedTensor } from '../../src/checkpoint/safetensors.js'
import { Adam } from '../../src/training/adam.js'
import { expertTrainStep } from '../../src/training/train-step.js'
import { initBackend } from '../../src/runtime/index.js'
import { mnistShards } from '../training/fixtures.js'

const { values: a } = parseArgs({
  options: {
    preset: { type: 'string', default: 'mini' },
    'ddpm-steps': { type: 'string', default: '600' },
    'fm-steps': { type: 'string', default: '300' },
    batch: { type: 'string', default: '32' },
    reference: { type: 'string', default: '500' },
    lr: { type: 'string', default: '1e-3' },
    window: { type: 'string', default: '25' }
  }
})
const B = Number(a.batch)
const reference = Number(a.reference)
const window = Number(a.window)

await initBackend({ backend: 'auto' })
const data = await mnistShards(4, 4000)
const shard = decodeShard(data.train[0])
const heldOut = decodeShard(data.heldOut[0])
const tokenizer = Tokenizer.fromJSON(shard.header.tokenizer)
const single: DiTConfig = expertConfig(a.preset as string, tokenizer)
const zero: DiTConfig = { ...single, adaln: 'zero' }
const log = (o: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(o) + '\n') }

/** Trains `models` side by side on the same batches, times and noise; per-model loss per step. */
type Run = { model: DiT, objective: ReturnType<typeof createObjective> }

function train (models: Run[], steps: number): number[][] {
  const batcher = new ShardBatcher(shard, { batchSize: B, seed: 7, promptDropout: 0.1 })
  const times = Random.derive(7, 'bench/time')
  const noise = Random.derive(7, 'bench/noise')
  const adam = { learningRate: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 }
  const adams = models.map(m => new Adam(m.model.params, adam))
  const losses: number[][] = models.map(() => [])
  for (let step = 0; step < steps; step++) {
    const batch = batcher.next()
    const u = Float32Array.from({ length: B }, () => times.nextFloat())
    const noiseSeed = noise.nextUint32()
    models.forEach((m, i) => {
      adams[i].learningRate = Number(a.lr) * Math.min(1, (step + 1) / 20)
      losses[i].push(expertTrainStep(m.model, m.objective, adams[i], batch, { u, noiseSeed }).loss)
    })
  }
  return losses
}

function load (config: DiTConfig, tensors: Map<string, NamedTensor>, keep: (name: string) => boolean): DiT {
  const model = new DiT(config, 3)
  for (const [name, v] of model.params.variables) {
    const t = tensors.get(name)
    if (t !== undefined && keep(name)) v.assign(tf.tensor(t.data, t.shape))
  }
  return model
}

// 1. The AdaLN-Zero DDPM expert.
const started = performance.now()
const ddpm = new DiT(zero, 1)
const [ddpmLosses] = train([{ model: ddpm, objective: createObjective('ddpm') }], Number(a['ddpm-steps']))
const tail = (l: number[]): number => l.slice(-window).reduce((x, y) => x + y) / Math.min(window, l.length)
const seconds = (): number => Math.round((performance.now() - started) / 1000)
log({ stage: 'ddpm', preset: a.preset, steps: ddpmLosses.length, finalLoss: tail(ddpmLosses), seconds: seconds() })
const source: Checkpoint = {
  metadata: { format: CHECKPOINT_FORMAT, network: 'expert', config: { ...zero }, objective: 'ddpm', step: 0 },
  tensors: paramsToTensors(ddpm.params)
}

// 2. The mapping, on held-out digits at fixed noise.
const S = single.imageSize
const hb = new ShardBatcher(heldOut, { batchSize: 64, seed: 3, tokenizer }).next()
for (const sharedFrom of ['mean', 0] as const) {
  const adapted = adaptInit(source, single, { referenceStep: reference, sharedFrom })
  const mapped = load({ ...single, ...adapted.inherited }, adapted.tensors, () => true)
  const row: Record<string, unknown> = { stage: 'mapping', sharedFrom, reference }
  for (const step of [0, 50, 100, 250, 500, 750, 900, 999]) {
    row[step] = tf.tidy(() => {
      const x0 = tf.tensor4d(hb.images, [64, S, S, single.channels])
      const eps = tf.randomNormal(x0.shape, 0, 1, 'float32', 11)
      const objective = createObjective('ddpm')
      const u = new Float32Array(64).fill((step + 0.5) / 1000)   // floor(u T) = step
      const example = objective.trainingExample(x0 as tf.Tensor4D, eps as tf.Tensor4D, u)
      const tokens = tf.tensor2d(hb.tokens, [64, single.promptTokens], 'int32')
      const a0 = ddpm.apply(example.input, example.time, tokens)
      const a1 = mapped.apply(example.input, example.time, tokens)
      const diff = tf.div(tf.norm(tf.sub(a0, a1)), tf.norm(a0)).dataSync()[0]
      const loss = (p: tf.Tensor4D): number => +objective.loss(p, eps as tf.Tensor4D).dataSync()[0].toFixed(4)
      return { diff: +diff.toExponential(2), lossZero: loss(a0), lossMapped: loss(a1) }
    })
  }
  log(row)
  mapped.dispose()
}

// 3. FM from each.
const adapted = adaptInit(source, single, { referenceStep: reference })
const notFinal = (name: string): boolean => !name.startsWith('final_layer.')
const fmFrom = createObjective('fm', { timeInput: 'ddpm-snr' })
const runs = [
  { name: 'zero (unmapped)', model: load(zero, source.tensors, notFinal), objective: fmFrom },
  { name: 'single (mapped)', model: load({ ...single, ...adapted.inherited }, adapted.tensors, notFinal),
    objective: fmFrom },
  { name: 'single (fresh)', model: new DiT(single, 3), objective: createObjective('fm') }
]
const fm = train(runs, Number(a['fm-steps']))
const windows = (l: number[]): number[] => Array.from({ length: Math.floor(l.length / window) },
  (_, w) => +(l.slice(w * window, (w + 1) * window).reduce((x, y) => x + y) / window).toFixed(4))
runs.forEach((r, i) => log({ stage: 'fm', run: r.name, window, losses: windows(fm[i]) }))
const [zw, mw] = [windows(fm[0]), windows(fm[1])]
// The mapped run's window loss over the unmapped one's: what the mapping costs an FM init, step by step.
const ratio = mw.map((m, w) => +(m / zw[w]).toFixed(3))
log({ stage: 'fm-cost', mappedOverUnmapped: ratio, seconds: seconds() })
