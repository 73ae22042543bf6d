/**
 * Why do the experiment's DDPM experts sample speckled images? A probe on one trained expert of
 * a finished `test/bench/experiment.ts` run (docs/RESULTS.md, "DDPM experts: speckle"):
 *
 *   npm run bench test/bench/ddpm-sampling.ts -- [--state tmp/experiment] [--objective ddpm] [--cluster 1]
 *     [--steps-list 100,400] [--samples 100] [--sample-steps 25] [--guidance 2] [--seed 11]
 *     [--variants current,ddim-trailing,...] [--diagnose] [--raw] [--experts DIR] [--out tmp/ddpm-sampling]
 *
 * Steps name the run's milestone checkpoints (step-N); `last` is the resumable checkpoint, the
 * only one that also holds raw (non-EMA) weights (--raw).
 * --diagnose: the RMS error of the x0 estimate x_t - t v by flow time on held-out images of the
 *   cluster, through the objective's own velocity (the conversion, for DDPM), with constant baselines.
 * Variants (same noise and prompts each; FID against the test images the run's cluster model
 * puts in that cluster, as the experiment's AdaLN study does):
 *   current         the conversion with the pixel clamp, FM Euler on linspace(1, 0.001, N)
 *   src             whatever the loaded expert's objective does (FM experts: only this one)
 *   clamp20         DESIGN's x0 clamp of +-20 instead of the pixel clamp 1
 *   ddim-trailing   native DDIM on steps linspace(999, 0, N), x0 clipped to [-1, 1], eps re-derived
 *   ddim-leading    native DDIM on steps (N-1) T/N, ..., T/N, 0 (guided-diffusion's ddimN spacing)
 *   start-0.95 ...  FM Euler on linspace(t0, 0.001, N) from t0 * noise (start-<t0>)
 *   x0-consistent   clamp x0, then v from the clamped x0 alone: v = (x_t - x0c) / t
 *   floor-0.1 ...   x0h = (x_t - t epsh) / max(1 - t, f): shrinks x0h towards 0 where 1 - t < f
 * Each variant writes a PNG grid (4 rows of 10) under --out.
 * Other modes: --train-to 800,1200 continues the expert in a copy under --out/experts (read it
 * back with --experts tmp/ddpm-sampling/experts); --ensemble homogeneous-ddpm re-runs the
 * experiment's own ensemble evaluation (its router, --routing, FID against the whole test set).
 */
import { existsSync, readFileSync } from 'node:fs'
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import * as tf from '@tensorflow/tfjs'
import { decodeShard, imageGrid, loadDataset, Random, ShardBatcher, subsetDataset } from '../../src/data/index.js'
import { inputRescale, snrMatchedStep, X0_DENOMINATOR_FLOOR } from '../../src/diffusion/convert.js'
import { guidedPredictor } from '../../src/diffusion/guidance.js'
import type { Predictor } from '../../src/diffusion/objectives/objective.js'
import { sampleEuler } from '../../src/diffusion/samplers/euler.js'
import { flowSigmas, type VelocityField } from '../../src/diffusion/samplers/sampler.js'
import { cosineSchedule } from '../../src/diffusion/schedule.js'
import { parseRouting } from '../../src/diffusion/routing.js'
import type { EnsembleMember } from '../../src/ensemble/index.js'
import { loadRouter } from '../../src/checkpoint/router.js'
import { loadExpert, type LoadedExpert } from '../../src/checkpoint/expert.js'
import { evaluateEnsemble, evaluateSamples, loadClassifier, referenceStatistics } from '../../src/eval/index.js'
import { initBackend } from '../../src/runtime/index.js'
import { decodeCheckpoint, encodeCheckpoint } from '../../src/checkpoint/format.js'
import { publishableCheckpoint } from '../../src/checkpoint/publishable.js'
import { CHECKPOINT_FILE, trainExpert } from '../../src/training/index.js'

const { values: args } = parseArgs({
  options: {
    state: { type: 'string', default: 'tmp/experiment' },
    objective: { type: 'string', default: 'ddpm' },
    cluster: { type: 'string', default: '1' },
    'steps-list': { type: 'string', default: '100,400' },
    samples: { type: 'string', default: '100' },
    'sample-steps': { type: 'string', default: '25' },
    guidance: { type: 'string', default: '2' },
    seed: { type: 'string', default: '11' },
    variants: { type: 'string', default: 'current,ddim-trailing,ddim-leading,start-0.95,x0-consistent' },
    diagnose: { type: 'boolean', default: false },
    raw: { type: 'boolean', default: false },
    ensemble: { type: 'string', default: '' },
    'train-to': { type: 'string', default: '' },
    experts: { type: 'string', default: '' },
    routing: { type: 'string', default: 'top1' },
    out: { type: 'string', default: 'tmp/ddpm-sampling' }
  }
})

const state = resolve(args.state!)
const cluster = Number(args.cluster)
const N = Number(args.samples)
const sampleSteps = Number(args['sample-steps'])
const guidance = Number(args.guidance)
const seed = Number(args.seed)
const out = resolve(args.out!)
const schedule = cosineSchedule(1000)
await mkdir(out, { recursive: true })
await initBackend({ backend: 'native' })

const expertDir = args.experts !== '' ? resolve(args.experts!) : join(state, 'experts')
if (args['train-to'] !== '') {
  await trainLonger(args['train-to']!.split(',').map(Number))
  process.exit(0)
}
const classifier = await loadClassifier('mnist')
const testSet = await loadDataset('mnist:test')
if (args.ensemble !== '') {
  await evaluateExperimentEnsemble(args.ensemble!)
  process.exit(0)
}
const assignment: number[] = JSON.parse(readFileSync(join(state, 'test-clusters.json'), 'utf8'))
const rows = assignment.flatMap((a, i) => a === cluster ? [i] : [])
const subset = subsetDataset(testSet, rows, `mnist-test/cluster-${cluster}`)
const reference = referenceStatistics(classifier, subset)
const order = Random.derive(seed, 'ddpm-sampling/prompts').permutation(subset.count)
const prompts = Array.from(order, i => subset.prompts[i]).slice(0, N)

// ---------------------------------------------------------------------------------------------
// Diagnosis: eps MSE by DDPM step, and the x0 error it implies in the conversion.

function diagnose (expert: LoadedExpert, label: string): void {
  const shard = decodeShard(readFileSync(join(state, 'shards', `cluster-${cluster}.held-out.hddmshard`)))
  const B = 64
  const batcher = new ShardBatcher(shard, { batchSize: B, seed: 7, tokenizer: expert.tokenizer })
  const batch = batcher.next()
  const { imageSize, channels, promptTokens } = expert.model.config
  const lines: string[] = []
  // Flow times with the SNR of DDPM steps 999, 995, 990, 980, 960, 940, 900, 800, 600, 300, 50, then a few more.
  const flowTimeOfStep = (s: number): number => {
    const r = Math.sqrt(schedule.alphasCumprod[s] / (1 - schedule.alphasCumprod[s]))
    return 1 / (1 + r)
  }
  const times = [1, ...[995, 990, 980, 960, 940, 900, 800, 600, 300, 50].map(s => flowTimeOfStep(s))]
  for (const t of times) {
    const [x0Rmse, x0ClampRmse, patchShare, vRmse] = tf.tidy(() => {
      const x0 = tf.tensor4d(batch.images, [B, imageSize, imageSize, channels])
      const eps = tf.randomNormal(x0.shape, 0, 1, 'float32', 1234) as tf.Tensor4D
      const xt = tf.add(tf.mul(x0, 1 - t), tf.mul(eps, t)) as tf.Tensor4D
      const tokens = tf.tensor2d(batch.tokens, [B, promptTokens], 'int32')
      const predict: Predictor = (x, time) => expert.model.apply(x, time, tokens)
      const v = expert.objective.velocity(predict, xt, t)
      // x0h = x_t - t v: the clean-image estimate the sampler commits to (already clamped for DDPM).
      const err = tf.sub(tf.sub(xt, tf.mul(v, t)), x0)
      const errClamp = tf.sub(tf.clipByValue(tf.sub(xt, tf.mul(v, t)), -1, 1), x0)
      const total = tf.mean(tf.square(err))
      const p = expert.model.config.patchSize
      const share = tf.div(tf.mean(tf.square(tf.avgPool(err as tf.Tensor4D, p, p, 'valid'))), total)
      const vErr = tf.mean(tf.square(tf.sub(v, tf.sub(eps, x0))))
      const sqrtOf = (x: tf.Tensor): number => Math.sqrt(x.dataSync()[0])
      return [sqrtOf(total), sqrtOf(tf.mean(tf.square(errClamp))), share.dataSync()[0], sqrtOf(vErr)]
    })
    const time = `t=${t.toFixed(5)} (s*=${snrMatchedStep(schedule, t).toFixed(1)})`
    const x0h = `x0h rmse ${x0Rmse.toFixed(3)} (clipped to [-1,1]: ${x0ClampRmse.toFixed(3)})`
    const patch = `patch-constant share ${(patchShare * 100).toFixed(0)}%`
    lines.push(`  ${time}  v rmse ${vRmse.toFixed(3)}  ${x0h}  ${patch}`)
  }
  // What constant estimates score: x0h = 0, and x0h = the batch's per-pixel mean (the best constant).
  const [zero, mean] = tf.tidy(() => {
    const x0 = tf.tensor4d(batch.images, [B, imageSize, imageSize, channels])
    const rms = (x: tf.Tensor): number => Math.sqrt(tf.mean(tf.square(x)).dataSync()[0])
    return [rms(x0), rms(tf.sub(x0, tf.mean(x0, 0, true)))]
  })
  lines.push(`  constant estimates: x0h = 0 rmse ${zero.toFixed(3)}, x0h = per-pixel mean rmse ${mean.toFixed(3)}`)
  console.log(`${label}: x0 error by flow time (held-out cluster ${cluster}, batch 64)\n${lines.join('\n')}`)
}

// ---------------------------------------------------------------------------------------------
// Variants.

/** v from an eps-model with x0 clamped, optionally re-deriving v from the clamped x0 alone. */
function convertedField (
  predict: Predictor, clamp: number, consistent: boolean, floor = X0_DENOMINATOR_FLOOR
): VelocityField {
  return (x, t) => tf.tidy(() => {
    const step = snrMatchedStep(schedule, t)
    const epsHat = predict(tf.mul(x, inputRescale(t)) as tf.Tensor4D, tf.fill([x.shape[0]], step) as tf.Tensor1D)
    const x0 = tf.clipByValue(tf.div(tf.sub(x, tf.mul(epsHat, t)), Math.max(1 - t, floor)), -clamp, clamp)
    if (consistent) return tf.div(tf.sub(x, x0), Math.max(t, 1e-3)) as tf.Tensor4D
    return tf.sub(epsHat, x0) as tf.Tensor4D
  })
}

/** Native DDIM (eta 0) in the DDPM's own space, x0 clipped and eps re-derived (guided-diffusion). */
async function ddim (predict: Predictor, noise: tf.Tensor4D, steps: number[]): Promise<tf.Tensor4D> {
  let x = tf.clone(noise)
  for (let i = 0; i < steps.length; i++) {
    const abar = schedule.abarAt(steps[i])
    const next = i + 1 < steps.length ? schedule.abarAt(steps[i + 1]) : 1
    const y = tf.tidy(() => {
      const epsHat = predict(x, tf.fill([x.shape[0]], steps[i]) as tf.Tensor1D)
      const x0 = tf.clipByValue(tf.div(tf.sub(x, tf.mul(epsHat, Math.sqrt(1 - abar))), Math.sqrt(abar)), -1, 1)
      const eps = tf.div(tf.sub(x, tf.mul(x0, Math.sqrt(abar))), Math.sqrt(1 - abar))
      return tf.add(tf.mul(x0, Math.sqrt(next)), tf.mul(eps, Math.sqrt(1 - next))) as tf.Tensor4D
    })
    x.dispose()
    x = y
    await new Promise(resolve => setImmediate(resolve))
  }
  return x
}

async function runVariant (
  expert: LoadedExpert, name: string, noise: tf.Tensor4D, tokens: tf.Tensor2D, nullTokens: tf.Tensor2D
): Promise<tf.Tensor4D> {
  const predict = guidedPredictor(expert.network, tokens, nullTokens, guidance)
  const T = schedule.T
  /** FM Euler from the noise on linspace(1, 0.001, sampleSteps). */
  const euler = async (field: VelocityField): Promise<tf.Tensor4D> =>
    await sampleEuler(field, noise, flowSigmas(sampleSteps))
  /** Native DDIM from the noise through the DDPM steps step(0), ..., step(sampleSteps - 1). */
  const ddimThrough = async (step: (i: number) => number): Promise<tf.Tensor4D> =>
    await ddim(predict, noise, Array.from({ length: sampleSteps }, (_, i) => step(i)))
  if (name === 'current') return await euler(convertedField(predict, 1, false))
  if (name === 'clamp20') return await euler(convertedField(predict, 20, false))
  if (name === 'x0-consistent') return await euler(convertedField(predict, 1, true))
  if (name === 'src') return await euler((x, t) => expert.objective.velocity(predict, x, t))
  if (name === 'ddim-trailing') return await ddimThrough(i => (T - 1) * (1 - i / (sampleSteps - 1)))
  if (name === 'ddim-leading') return await ddimThrough(i => (sampleSteps - 1 - i) * T / sampleSteps)
  if (name.startsWith('floor-')) {
    const floor = Number(name.slice('floor-'.length))
    return await euler(convertedField(predict, 1, false, floor))
  }
  if (name.startsWith('start-')) {
    const t0 = Number(name.slice('start-'.length))
    const x = tf.mul(noise, t0) as tf.Tensor4D
    try {
      return await sampleEuler(convertedField(predict, 1, false), x, flowSigmas(sampleSteps, t0))
    } finally {
      x.dispose()
    }
  }
  throw new Error(`unknown variant ${name}`)
}

const results: Array<Record<string, unknown>> = []
// 'last' is the resumable checkpoint.safetensors, the only file that also holds the raw (non-EMA) weights (--raw).
for (const step of args['steps-list']!.split(',')) {
  const model = `${args.objective!}-c${cluster}`
  const path = join(expertDir, model, step === 'last' ? 'checkpoint.safetensors' : `step-${step}.safetensors`)
  if (!existsSync(path)) throw new Error(`no checkpoint ${path}`)
  const expert = loadExpert(decodeCheckpoint(await readFile(path)), args.raw === true ? { prefix: 'raw.' } : {})
  try {
    if (args.diagnose === true) diagnose(expert, `${model} step ${step}${args.raw === true ? ' (raw)' : ' (EMA)'}`)
    const { imageSize, channels, promptTokens: L } = expert.model.config
    const tokenRows = new Int32Array(N * L)
    const nullRows = new Int32Array(N * L)
    prompts.forEach((p, i) => {
      tokenRows.set(expert.tokenizer.encode(p).subarray(0, L), i * L)
      nullRows.set(expert.tokenizer.nullTokens().subarray(0, L), i * L)
    })
    const tokens = tf.tensor2d(tokenRows, [N, L], 'int32')
    const nullTokens = tf.tensor2d(nullRows, [N, L], 'int32')
    const noise = tf.randomNormal([N, imageSize, imageSize, channels], 0, 1, 'float32', seed) as tf.Tensor4D
    for (const variant of args.variants!.split(',').filter(v => v !== '')) {
      if (args.objective !== 'ddpm' && variant !== 'src') continue
      const t0 = performance.now()
      const sample = await runVariant(expert, variant, noise, tokens, nullTokens)
      const images = tf.tidy(() => tf.clipByValue(sample, -1, 1)).dataSync() as Float32Array
      const stats = tf.tidy(() => {
        const m = tf.moments(sample)
        return [m.mean.dataSync()[0], Math.sqrt(m.variance.dataSync()[0])]
      })
      sample.dispose()
      const metrics = evaluateSamples({ classifier, reference, images, prompts })
      const row = {
        model, step, weights: args.raw === true ? 'raw' : 'ema', variant,
        fid: Number(metrics.fid.toFixed(2)), accuracy: metrics.promptAccuracy.accuracy,
        diversity: Number(metrics.diversity.mean.toFixed(3)),
        pixelMean: Number(stats[0].toFixed(3)), pixelStd: Number(stats[1].toFixed(3)),
        seconds: Math.round((performance.now() - t0) / 1000)
      }
      results.push(row)
      console.log(JSON.stringify(row))
      await writeFile(join(out, `${model}.step-${step}.${variant}.png`), grid(images, imageSize, channels, 40))
    }
    tf.dispose([tokens, nullTokens, noise])
  } finally {
    expert.dispose()
  }
}
const sampling = `${N} samples, ${sampleSteps} steps, guidance ${guidance}, seed ${seed}`
console.log(`reference: ${reference.name}, ${reference.count} images; ${sampling}`)
console.log('| model | step | variant | FID | prompt accuracy |\n|---|---|---|---|---|')
for (const r of results) {
  const checkpoint = `${String(r.step)} ${String(r.weights)}`
  const fid = Number(r.fid).toFixed(2)
  const accuracy = `${(Number(r.accuracy) * 100).toFixed(0)}%`
  console.log(`| ${String(r.model)} | ${checkpoint} | ${String(r.variant)} | ${fid} | ${accuracy} |`)
}

function grid (images: Float32Array, h: number, c: number, count: number): Uint8Array {
  const size = h * h * c
  const n = Math.min(count, images.length / size)
  return imageGrid({ width: h, height: h, channels: c, pixels: images.subarray(0, n * size) }, { cols: 10, scale: 2 })
}


/**
 * --ensemble homogeneous-ddpm|heterogeneous|homogeneous-fm: the experiment's own evaluation (its
 * router, --samples, --sample-steps, --guidance, --seed, FID against the 10 000 test images) at
 * each step of --steps-list, through src's sampler as it is now.
 */
async function evaluateExperimentEnsemble (name: string): Promise<void> {
  const settingsText = readFileSync(join(state, 'settings.json'), 'utf8')
  const settings = JSON.parse(settingsText) as { K: number, ddpmClusters: number[] }
  const kindOf = (c: number): string => {
    if (name === 'homogeneous-ddpm') return 'ddpm'
    if (name === 'homogeneous-fm') return 'fm'
    return settings.ddpmClusters.includes(c) ? 'ddpm' : 'fm'
  }
  const fullReference = referenceStatistics(classifier, testSet)
  for (const step of args['steps-list']!.split(',')) {
    const members: EnsembleMember[] = []
    const router = loadRouter(decodeCheckpoint(await readFile(join(state, 'router.safetensors'))))
    try {
      for (let c = 0; c < settings.K; c++) {
        const path = join(state, 'experts', `${kindOf(c)}-c${c}`, `step-${step}.safetensors`)
        members.push({ cluster: c, expert: loadExpert(decodeCheckpoint(await readFile(path))) })
      }
      const { evaluation, images, shape } = await evaluateEnsemble({
        members, router, tokenizer: members[0].expert.tokenizer, routing: parseRouting(args.routing!),
        classifier, reference: fullReference, samples: N, steps: sampleSteps, guidance, seed
      })
      console.log(JSON.stringify({
        ensemble: name, routing: args.routing, step, samples: N, steps: sampleSteps, guidance, seed,
        fid: Number(evaluation.fid.toFixed(2)), accuracy: evaluation.promptAccuracy.accuracy,
        usage: evaluation.usage.map(u => Number(u.meanWeight.toFixed(2))), seconds: Math.round(evaluation.seconds)
      }))
      await writeFile(join(out, `${name}.${args.routing!}.step-${step}.png`), grid(images, shape[1], shape[3], 40))
    } finally {
      router.dispose()
      for (const m of members) m.expert.dispose()
    }
  }
}

/**
 * --train-to 800,1200: continues the experiment's expert (--objective, --cluster) from its
 * resumable checkpoint with the experiment's own training settings, in a copy under --out/experts
 * (the experiment's state is left alone), and keeps each milestone's EMA weights as step-N.
 */
async function trainLonger (stops: number[]): Promise<void> {
  const settingsText = readFileSync(join(state, 'settings.json'), 'utf8')
  const settings = JSON.parse(settingsText) as { preset: string, training: Record<string, unknown> }
  const model = `${args.objective!}-c${cluster}`
  const dir = join(out, 'experts', model)
  await mkdir(dir, { recursive: true })
  const resumePath = join(dir, CHECKPOINT_FILE)
  if (!existsSync(resumePath)) await copyFile(join(state, 'experts', model, CHECKPOINT_FILE), resumePath)
  const shard = await readFile(join(state, 'shards', `cluster-${cluster}.train.hddmshard`))
  for (const stop of stops) {
    const target = join(dir, `step-${stop}.safetensors`)
    if (existsSync(target)) continue
    const t0 = performance.now()
    const result = await trainExpert({
      shard, preset: settings.preset, objective: args.objective as 'ddpm' | 'fm', outDir: dir,
      training: { ...settings.training, steps: stop }, resume: await readFile(resumePath)
    }, {
      onProgress: e => {
        if (e.type === 'hddm:train:step' && e.detail.step % 100 === 0) {
          console.log(JSON.stringify({ model, step: e.detail.step, loss: e.detail.loss }))
        }
      }
    })
    await writeFile(target, encodeCheckpoint(publishableCheckpoint(decodeCheckpoint(await readFile(result.path)))))
    console.log(JSON.stringify({ model, milestone: stop, seconds: Math.round((performance.now() - t0) / 1000) }))
  }
}
