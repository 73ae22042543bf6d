/**
 * The monolith's FID-vs-steps curve alone (issue 14's first step: pick the experiment's budget
 * where this curve flattens), resumable. Same data and recipe as test/bench/experiment.ts's
 * monolith (one FM model on the union of the K train shards, constant learning rate after
 * warm-up; the shared parts are test/bench/experiment-parts.ts), so the curve applies to the
 * ensemble runs; here it is trained to the last of --milestones and evaluated at each. Checked:
 * its step-400 weights, killed at step 350 and resumed, equal byte for byte the monolith-fm
 * step-400 milestone of an `experiment.ts --steps 400` state made with the same data flags.
 *
 *   npm run bench test/bench/monolith-curve.ts -- --state tmp/monolith-curve [--milestones 1000,2000,...]
 *   npm run bench test/bench/monolith-curve.ts -- --state tmp/monolith-curve --report   (table from what exists)
 *
 * State: <state>/experts/monolith-fm/step-<n>.safetensors (+ .json: held-out loss, seconds) as in
 * the experiment, checkpoint.safetensors (resume, every 50 steps), and per milestone
 * <state>/eval/step-<n>.<eval tag>.json (FID, prompt accuracy, diversity, a bootstrap over the
 * samples), the samples as bytes (.u8, [N, 28, 28]) and a grid under <state>/grids. Each file is
 * written as soon as it is computed: a killed run loses at most 50 steps or one evaluation.
 * Evaluation flags may change between runs (their files are named by them), the recipe may not.
 */
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadDataset } from '../../src/data/index.js'
import { parseRouting } from '../../src/diffusion/routing.js'
import { loadExpert } from '../../src/checkpoint/expert.js'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import {
  linePlot, loadClassifier, referenceStatistics, type EnsembleEvaluation, type PlotSeries
} from '../../src/eval/index.js'
import { expertForwardFlops } from '../../src/model/param-count.js'
import { initBackend } from '../../src/runtime/index.js'
import { CHECKPOINT_FILE, type ExpertTrainingConfig } from '../../src/training/index.js'
import {
  checkSettings, evaluateWithBootstrap, milestonePath, numberOption, prepareData, readJson, trainTo, writeJson,
  type BootstrapResult, type ModelSpec, type Segment
} from './experiment-parts.js'

const { values: args } = parseArgs({
  options: {
    state: { type: 'string', default: 'tmp/monolith-curve' },
    dataset: { type: 'string', default: 'mnist' },
    features: { type: 'string', default: 'encoder' },
    preset: { type: 'string', default: 'small' },
    k: { type: 'string', default: '4' },
    batch: { type: 'string', default: '32' },
    lr: { type: 'string', default: '7e-4' },
    warmup: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    'data-seed': { type: 'string', default: '0' },
    milestones: { type: 'string', default: '1000,2000,4000,6000,8000,12000,16000' },
    samples: { type: 'string', default: '1000' },
    'sample-steps': { type: 'string', default: '20' },
    guidance: { type: 'string', default: '2' },
    'eval-seed': { type: 'string', default: '11' },
    bootstrap: { type: 'string', default: '200' },
    report: { type: 'boolean', default: false }
  }
})

const num = (name: keyof typeof args): number => numberOption(args, name)
const state = resolve(args.state!)
const expertDir = join(state, 'experts')
const evalDir = join(state, 'eval')
const gridDir = join(state, 'grids')
const MODEL = 'monolith-fm'
if (args.features !== 'encoder' && args.features !== 'pca') {
  throw new Error(`--features must be encoder or pca, got ${String(args.features)}`)
}
const features: 'encoder' | 'pca' = args.features
const K = num('k')
const B = num('batch')
const seed = num('seed')
const milestones = [...new Set(args.milestones!.split(',').filter(s => s !== '').map(Number))].sort((a, b) => a - b)
if (milestones.length === 0 || !milestones.every(m => Number.isInteger(m) && m > 0)) {
  throw new Error(`--milestones must be positive integers, got ${args.milestones!}`)
}
// The experiment's monolith recipe, field for field (test/bench/experiment.ts `training`).
const training: Partial<ExpertTrainingConfig> = {
  batchSize: B, learningRate: num('lr'), warmupSteps: num('warmup'), lrSchedule: 'constant', seed, checkpointEvery: 50
}
const evalSettings = {
  samples: num('samples'), steps: num('sample-steps'), guidance: num('guidance'), seed: num('eval-seed')
}
const resamples = num('bootstrap')
/** Evaluation files are named by their settings, so another eval seed or N adds files beside the first. */
const tagOf = (e: { samples: number, steps: number, guidance: number, seed: number }): string =>
  `n${e.samples}-steps${e.steps}-g${e.guidance}-seed${e.seed}`
const evalTag = tagOf(evalSettings)
const started = performance.now()

function log (what: string, detail: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ t: Math.round((performance.now() - started) / 1000), what, ...detail }))
}

// Milestones and evaluation settings may grow or change between runs; the data and recipe may not.
const settings = {
  dataset: args.dataset!, features, preset: args.preset!, K, B, training, seed, dataSeed: num('data-seed'),
  milestones, evalSettings
}
await mkdir(state, { recursive: true })
await checkSettings(join(state, 'settings.json'), settings, ['milestones', 'evalSettings'])

if (args.report === true) {
  await report()
  process.exit(0)
}
// The latest run's milestones are the ones --report shows, whatever flags it is given.
await writeJson(join(state, 'settings.json'), settings)

const backend = await initBackend({ backend: 'native' })
log('start', { backend: backend.name, settings, evalTag })
const data = { dataset: settings.dataset, features, K, dataSeed: settings.dataSeed }
const { heldOutShards, monolithShard } = await prepareData(state, data, log)
const spec: ModelSpec = { name: MODEL, objective: 'fm', shard: monolithShard, cluster: 'all', stops: milestones }

const classifier = await loadClassifier(settings.dataset)
const reference = referenceStatistics(classifier, await loadDataset(`${settings.dataset}:test`))
await mkdir(evalDir, { recursive: true })
await mkdir(gridDir, { recursive: true })

// Milestone by milestone: train, then evaluate at once, so partial results exist early.
for (const step of milestones) {
  const segment = await trainTo({ expertDir, preset: settings.preset, training, heldOutShards, log }, spec, step)
  // The milestone's own file times only the last segment, which after a resume starts past the previous milestone.
  if (segment !== undefined) await writeJson(segmentPath(step), segment)
  await evaluateMilestone(step)
}
await report()
log('done', { seconds: Math.round((performance.now() - started) / 1000) })

// ---------------------------------------------------------------------------------------------

interface EvalFile {
  model: string
  step: number
  imagesSeen: number
  trainingGflops: number
  evaluation: EnsembleEvaluation
  bootstrap?: BootstrapResult & { seconds: number }
}
interface MilestoneFile { step: number, heldOut: number[], seconds: number }

function segmentPath (step: number): string {
  return milestonePath(expertDir, MODEL, step).replace('.safetensors', '.segment.json')
}

async function evaluateMilestone (step: number): Promise<void> {
  const file = join(evalDir, `step-${step}.${evalTag}.json`)
  if (existsSync(file)) return
  const expert = loadExpert(decodeCheckpoint(await readFile(milestonePath(expertDir, MODEL, step))))
  try {
    // As the experiment samples its monolith: no router, one member, full routing.
    const { evaluation, bootstrap } = await evaluateWithBootstrap({
      members: [{ cluster: 0, expert }],
      tokenizer: expert.tokenizer,
      routing: parseRouting('full'),
      classifier,
      reference,
      ...evalSettings,
      onProgress: (e) => { log('sampling', { step, done: e.detail.done, total: e.detail.total }) },
      resamples,
      samplesPath: join(evalDir, `step-${step}.${evalTag}.u8`),
      gridPath: join(gridDir, `step-${step}.${evalTag}.png`)
    })
    const trainingGflops = step * B * 3 * expertForwardFlops(expert.model.config) / 1e9
    const result: EvalFile = {
      model: MODEL, step, imagesSeen: step * B, trainingGflops, evaluation,
      ...(bootstrap !== undefined ? { bootstrap } : {})
    }
    await writeJson(file, result)
    const round = (v: number): number => Number(v.toFixed(2))
    log('eval', {
      step,
      fid: round(evaluation.fid),
      fid90: bootstrap !== undefined ? [round(bootstrap.fid.lo), round(bootstrap.fid.hi)] : undefined,
      accuracy: evaluation.promptAccuracy.accuracy,
      diversity: Number(evaluation.diversity.mean.toFixed(3)),
      seconds: Math.round(evaluation.seconds),
      bootstrapSeconds: bootstrap !== undefined ? Math.round(bootstrap.seconds) : undefined
    })
  } finally {
    expert.dispose()
  }
}

/** A markdown table (printed, and <state>/report.md) and <state>/fid-vs-steps.svg from the files that exist. */
async function report (): Promise<void> {
  const evals: EvalFile[] = []
  if (existsSync(evalDir)) {
    for (const f of (await readdir(evalDir)).filter(f => /^step-\d+\..*\.json$/.test(f))) {
      evals.push(await readJson<EvalFile>(join(evalDir, f)))
    }
  }
  const evalTagOf = (v: EvalFile): string => tagOf({ ...v.evaluation, samples: v.evaluation.count })
  evals.sort((a, b) => a.step - b.step || evalTagOf(a).localeCompare(evalTagOf(b)))
  const trained: Array<{ step: number, file: MilestoneFile, segment?: Segment }> = []
  const modelDir = join(expertDir, MODEL)
  if (existsSync(modelDir)) {
    for (const f of await readdir(modelDir)) {
      const m = /^step-(\d+)\.json$/.exec(f)
      if (m === null) continue
      const step = Number(m[1])
      const file = await readJson<MilestoneFile>(join(modelDir, f))
      const segment = existsSync(segmentPath(step)) ? await readJson<Segment>(segmentPath(step)) : undefined
      trained.push({ step, file, ...(segment !== undefined ? { segment } : {}) })
    }
  }
  trained.sort((a, b) => a.step - b.step)
  const resumePath = join(modelDir, CHECKPOINT_FILE)
  const resumeAt = existsSync(resumePath) ? decodeCheckpoint(await readFile(resumePath)).metadata.step : undefined

  // The latest run's milestones and evaluation settings, not this call's flags.
  const saved = await readJson<typeof settings>(join(state, 'settings.json'))
  const savedTag = tagOf(saved.evalSettings)
  const pct = (v: number): string => `${(100 * v).toFixed(1)}%`
  const lines = [`# Monolith FID vs steps (${state})`, '']
  lines.push(`Preset ${settings.preset}, batch ${B}, lr ${String(training.learningRate)} constant after ` +
    `${String(training.warmupSteps)} warm-up steps, seed ${seed}; ${settings.dataset} ${features} clusters, K = ${K} ` +
    `(the monolith trains on their union). Milestones: ${saved.milestones.join(', ')}. ` +
    `Resumable checkpoint at step ${resumeAt ?? '-'}.`, '')
  lines.push('| step | images seen | training TFLOPs | s / step | held-out loss (mean of clusters) | eval | FID | ' +
    'FID 90% (bootstrap) | FID bootstrap std | prompt accuracy (90%) | diversity | eval s |')
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const [i, t] of trained.entries()) {
    const perStep = t.segment !== undefined
      ? t.segment.seconds / (t.segment.toStep - t.segment.fromStep)
      : t.file.seconds / (t.step - (i > 0 ? trained[i - 1].step : 0))
    const heldOut = t.file.heldOut.reduce((s, v) => s + v, 0) / t.file.heldOut.length
    const rows = evals.filter(v => v.step === t.step)
    const tflops = rows.length > 0 ? (rows[0].trainingGflops / 1000).toFixed(2) : '-'
    const head = `| ${t.step} | ${t.step * B} | ${tflops} | ${perStep.toFixed(2)} | ${heldOut.toFixed(4)}`
    if (rows.length === 0) lines.push(`${head} | (not evaluated yet) | | | | | | |`)
    for (const v of rows) {
      const ev = v.evaluation
      const bs = v.bootstrap
      const fid90 = bs !== undefined ? `${bs.fid.lo.toFixed(2)}-${bs.fid.hi.toFixed(2)}` : '-'
      const fidStd = bs !== undefined ? bs.fid.std.toFixed(2) : '-'
      const accuracy90 = bs !== undefined ? ` (${pct(bs.promptAccuracy.lo)}-${pct(bs.promptAccuracy.hi)})` : ''
      lines.push(`${head} | ${evalTagOf(v)} | ${ev.fid.toFixed(2)} | ${fid90} | ${fidStd} | ` +
        `${pct(ev.promptAccuracy.accuracy)}${accuracy90} | ` +
        `${ev.diversity.mean.toFixed(3)} | ${Math.round(ev.seconds)} |`)
    }
  }
  lines.push('', 'The bootstrap resamples the samples with replacement; its FIDs sit above the point estimate ' +
    '(repeated samples, small-N bias), so read its spread (std, interval width) as the noise of one evaluation, ' +
    'not its position.')
  const text = lines.join('\n') + '\n'
  console.log(text)
  await writeFile(join(state, 'report.md'), text)
  const main = evals.filter(v => evalTagOf(v) === savedTag)
  if (main.length > 0) {
    const series: PlotSeries[] = [
      { name: `monolith (${savedTag})`, color: [80, 80, 80], points: main.map(v => [v.step, v.evaluation.fid]) }
    ]
    await writeFile(join(state, 'fid-vs-steps.svg'), await linePlot(series, {
      title: `Monolith FID vs steps (${settings.preset}, batch ${B}, ${saved.evalSettings.samples} samples)`,
      xLabel: 'training steps',
      yLabel: 'FID (classifier features)'
    }))
  }
}
