/**
 * The paper's table at small scale (issue 7), resumable: every trained checkpoint and every
 * evaluation is a file under --state; a rerun skips what is done and resumes an interrupted
 * training segment from its last checkpoint (the trainer's resume is draw-for-draw exact).
 *
 *   npm run bench test/bench/experiment.ts -- --state tmp/experiment [--steps 400] [--samples 300] ...
 *   npm run bench test/bench/experiment.ts -- --state tmp/experiment --report   (tables + plot from what exists)
 *
 * What it trains, at equal total training compute (expert steps x batch):
 * - homogeneous FM: K flow-matching experts, S steps each, one per cluster;
 * - homogeneous DDPM: K DDPM experts, S steps each, same clusters and seeds;
 * - heterogeneous: the DDPM experts of the planTasks clusters (floor(i K / D), i < D; K=4, D=2:
 *   clusters 0 and 2) and the FM experts of the others, reused from the two ensembles above;
 * - monolith: one FM model on the union of the K train shards, K x S steps;
 * - one router (router-small) shared by every ensemble, reading the prompt (--router prompt, the
 *   default) or not (none, the paper's); with prompt, a prompt-blind router is also trained and
 *   every ensemble is evaluated with it at top-1 as a control.
 * Clusters come from the shipped clustering encoder (--features encoder, the default) or pixel PCA.
 * Each ensemble is sampled with top-1, top-2, full and threshold routing, each evaluation with a
 * bootstrap over its samples (FID noise); intermediate checkpoints give the FID-against-compute
 * curve (top-1). DDPM experts are then trained on to --ddpm-budget x S steps (their own budget,
 * outside equal compute) and the DDPM and heterogeneous ensembles evaluated again; with --fm-budget
 * K the FM experts train on to the monolith's number of updates (the equal-wall-clock row); --routings
 * narrows the final table's routings (top1 first); --configurations narrows the ensembles (and so
 * the experts trained: K = 8 without homogeneous-ddpm trains 2 DDPM experts, not 8); --threads 1
 * suits two runs side by side on two cores (1.2x their throughput at 2 threads each, whose BLAS
 * threads spin against each other); --train-only splits the training between two such processes
 * on one state (start the second once the first has written the shards); --monolith no leaves the
 * monolith out (ensembles against each other, when its K x S steps do not fit). Side studies
 * (--side-studies no skips them):
 * DDPM -> FM initialisation against FM from scratch (held-out loss by step), AdaLN-Single against
 * AdaLN-Zero (parameters, FID at equal steps).
 */
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  decodeShard, loadDataset, Random, ShardBatcher, subsetDataset, Tokenizer, type Shard
} from '../../src/data/index.js'
import { parseRouting } from '../../src/diffusion/routing.js'
import { loadRouter } from '../../src/checkpoint/router.js'
import { loadExpert } from '../../src/checkpoint/expert.js'
import type { EnsembleMember } from '../../src/ensemble/index.js'
import {
  evaluateEnsemble, expertClusterLossMatrix, formatLossMatrix, loadClassifier, referenceStatistics,
  type EnsembleEvaluation, type FeatureClassifier, type ReferenceStatistics
} from '../../src/eval/index.js'
import { EXPERT_PRESETS, type DiTConfig, type ExpertPresetName } from '../../src/model/config.js'
import { DiT } from '../../src/model/dit.js'
import { expertForwardFlops, expertParamCount } from '../../src/model/param-count.js'
import { expertHeldOutLoss } from '../../src/checkpoint/expert-score.js'
import { initBackend } from '../../src/runtime/index.js'
import { CHECKPOINT_FORMAT, decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../../src/checkpoint/format.js'
import { createObjective } from '../../src/diffusion/objectives/factory.js'
import {
  Adam, Ema, expertTrainStep, learningRateAt, resolveTrainingConfig, routerCheckpoint, trainRouter,
  type ExpertTrainingConfig
} from '../../src/training/index.js'
import { writeExperimentReport } from './experiment-report.js'
import {
  checkSettings, evaluateWithBootstrap, HELD_OUT, milestonePath as milestonePathIn, numberOption, prepareData,
  trainTo as trainModelTo, writeJson, type ModelSpec
} from './experiment-parts.js'

const { values: args } = parseArgs({
  options: {
    state: { type: 'string', default: 'tmp/experiment' },
    dataset: { type: 'string', default: 'mnist' },
    preset: { type: 'string', default: 'small' },
    k: { type: 'string', default: '4' },
    ddpm: { type: 'string', default: '2' },
    steps: { type: 'string', default: '400' },
    batch: { type: 'string', default: '32' },
    lr: { type: 'string', default: '7e-4' },
    warmup: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    'data-seed': { type: 'string', default: '0' },
    'router-steps': { type: 'string', default: '400' },
    router: { type: 'string', default: 'prompt' },
    features: { type: 'string', default: 'encoder' },
    'convert-steps': { type: 'string', default: '' },
    'convert-cluster': { type: 'string', default: '1' },
    'adaln-steps': { type: 'string', default: '' },
    samples: { type: 'string', default: '1000' },
    bootstrap: { type: 'string', default: '200' },
    threshold: { type: 'string', default: '0.2' },
    /** Routings of the final table, comma-separated (default: top1, top2, threshold, full). */
    routings: { type: 'string', default: '' },
    'ddpm-budget': { type: 'string', default: '3' },
    'fm-budget': { type: 'string', default: '0' },
    configurations: { type: 'string', default: 'homogeneous-fm,homogeneous-ddpm,heterogeneous' },
    'side-studies': { type: 'string', default: 'yes' },
    /** no: neither train nor evaluate the monolith (ensembles against each other only). */
    monolith: { type: 'string', default: 'yes' },
    'sample-steps': { type: 'string', default: '20' },
    guidance: { type: 'string', default: '2' },
    'eval-seed': { type: 'string', default: '11' },
    curve: { type: 'string', default: '0.25,0.5' },
    /** BLAS threads (0: every core). Two runs side by side on 2 cores go faster at 1 each. */
    threads: { type: 'string', default: '0' },
    /** Models to train (to every stop) before exiting, comma-separated: a second process on the same state. */
    'train-only': { type: 'string', default: '' },
    report: { type: 'boolean', default: false }
  }
})

const num = (name: keyof typeof args): number => numberOption(args, name)
const state = resolve(args.state!)
const preset = args.preset!
const K = num('k')
const D = num('ddpm')
const S = num('steps')
const B = num('batch')
const seed = num('seed')
const convertCluster = num('convert-cluster')
const convertSteps = args['convert-steps'] !== '' ? num('convert-steps') : Math.round(S / 2)
const adalnSteps = args['adaln-steps'] !== '' ? num('adaln-steps') : Math.round(S / 2)
const curve = args.curve!.split(',').filter(s => s !== '').map(Number)
const milestones = [...new Set([...curve.map(f => Math.round(f * S)), S])].filter(m => m > 0).sort((a, b) => a - b)
/** The FM expert of the conversion cluster is checkpointed finely: its trajectory is the from-scratch curve. */
const convertEvery = Math.max(1, Math.round(convertSteps / 8))
const convertStopCount = Math.ceil(convertSteps / convertEvery)
const convertStops = Array.from({ length: convertStopCount }, (_, i) => Math.min(convertSteps, (i + 1) * convertEvery))
/** DDPM experts' own budget, in multiples of S (0: no such rows). */
const ddpmBudget = num('ddpm-budget')
/**
 * FM experts' budget in multiples of S (0: no such row). K gives each expert the monolith's
 * updates: equal wall-clock when K contributors train in parallel, K x the compute. Not a
 * setting: it only adds a later milestone (exact resume), so it changes no other row.
 */
const fmBudget = num('fm-budget')
const fmBudgetStop = fmBudget > 1 ? [Math.round(fmBudget * S)] : []
/** Cheapest first: full routing runs all K experts at every step. */
const finalRoutings = args.routings !== ''
  ? args.routings!.split(',').map(r => { parseRouting(r); return r })
  : ['top1', 'top2', `threshold:${num('threshold')}`, 'full']
if (finalRoutings[0] !== 'top1') throw new Error(`--routings must start with top1 (the curve's), got ${args.routings}`)
const resamples = num('bootstrap')
const ENSEMBLE_NAMES = ['homogeneous-fm', 'homogeneous-ddpm', 'heterogeneous']
const chosen = args.configurations!.split(',')
for (const name of chosen) {
  if (!ENSEMBLE_NAMES.includes(name)) {
    throw new Error(`--configurations: ${name} is none of ${ENSEMBLE_NAMES.join(', ')}`)
  }
}
if (args['side-studies'] !== 'yes' && args['side-studies'] !== 'no') {
  throw new Error(`--side-studies must be yes or no, got ${String(args['side-studies'])}`)
}
const sideStudies = args['side-studies'] === 'yes'
if (args.monolith !== 'yes' && args.monolith !== 'no') {
  throw new Error(`--monolith must be yes or no, got ${String(args.monolith)}`)
}
const withMonolith = args.monolith === 'yes'
const ddpmClusters = Array.from({ length: D }, (_, i) => Math.floor(i * K / D))
const training: Partial<ExpertTrainingConfig> = {
  batchSize: B, learningRate: num('lr'), warmupSteps: num('warmup'), lrSchedule: 'constant', seed, checkpointEvery: 50
}
const evalSettings = {
  samples: num('samples'), steps: num('sample-steps'), guidance: num('guidance'), seed: num('eval-seed')
}
const started = performance.now()

function log (what: string, detail: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ t: Math.round((performance.now() - started) / 1000), what, ...detail }))
}

// ---------------------------------------------------------------------------------------------
// Settings: a rerun must use the same ones (other steps or seeds would mix two experiments).

if (args.router !== 'prompt' && args.router !== 'none') {
  throw new Error(`--router must be prompt or none, got ${String(args.router)}`)
}
if (args.features !== 'encoder' && args.features !== 'pca') {
  throw new Error(`--features must be encoder or pca, got ${String(args.features)}`)
}
const routerConditioning: 'prompt' | 'none' = args.router
const features: 'encoder' | 'pca' = args.features
const settings = {
  dataset: args.dataset, features, preset, K, D, ddpmClusters, S, B, training, seed, dataSeed: num('data-seed'),
  routerConditioning, routerSteps: num('router-steps'), convertCluster, convertSteps, adalnSteps, milestones,
  ddpmBudget, evalSettings
}
await mkdir(state, { recursive: true })
// ddpmBudget only adds a later milestone to the DDPM experts (exact resume), so, like --fm-budget, it
// changes no other row: a state may be given its own-budget rows later.
await checkSettings(join(state, 'settings.json'), settings, ['evalSettings', 'ddpmBudget'])

if (args.report === true) {
  await initBackend({ backend: 'auto' })   // the report classifies kept samples (precision and recall)
  await writeExperimentReport(state)
  process.exit(0)
}

const backend = await initBackend({ backend: 'native', ...(num('threads') > 0 ? { threads: num('threads') } : {}) })

log('start', { backend: backend.name, settings })

// ---------------------------------------------------------------------------------------------
// Data: the run's clusters and shards, plus the monolith's shard (the union of the K train shards).

const data = { dataset: args.dataset!, features, K, dataSeed: settings.dataSeed }
const { trainShards, heldOutShards, monolithShard } = await prepareData(state, data, log)

// ---------------------------------------------------------------------------------------------
// Training: each model trains in segments up to its milestones; each milestone's EMA weights are
// kept as a publishable checkpoint, with its held-out loss.

const expertDir = join(state, 'experts')
const milestonePath = (name: string, step: number): string => milestonePathIn(expertDir, name, step)

/** The conversion cluster's FM expert also stops at the from-scratch curve's steps and the AdaLN study's. */
const convertClusterStops = [...new Set([...milestones, ...convertStops, adalnSteps])].sort((a, b) => a - b)
const allSpecs: ModelSpec[] = [
  ...Array.from({ length: K }, (_, c): ModelSpec => ({
    name: `fm-c${c}`,
    objective: 'fm',
    shard: trainShards[c],
    cluster: c,
    stops: [...(c === convertCluster && sideStudies ? convertClusterStops : milestones), ...fmBudgetStop]
  })),
  ...Array.from({ length: K }, (_, c): ModelSpec => ({
    name: `ddpm-c${c}`,
    objective: 'ddpm',
    shard: trainShards[c],
    cluster: c,
    stops: ddpmBudget > 1 ? [...milestones, Math.round(ddpmBudget * S)] : milestones
  })),
  { name: 'monolith-fm', objective: 'fm', shard: monolithShard, cluster: 'all', stops: milestones.map(m => K * m) }
]

async function trainTo (spec: ModelSpec, step: number): Promise<void> {
  await trainModelTo({ expertDir, preset, training, heldOutShards, log }, spec, step)
}

// --train-only: this process trains some models and leaves the rest (router, evaluation) to the
// run that finds them done. Two such processes on two cores are the two lanes of one table.
if (args['train-only'] !== '') {
  for (const name of args['train-only']!.split(',')) {
    const spec = allSpecs.find(s => s.name === name)
    if (spec === undefined) throw new Error(`--train-only: no model ${name} (${allSpecs.map(s => s.name).join(', ')})`)
    for (const stop of spec.stops) await trainTo(spec, stop)
  }
  log('trained', { models: args['train-only'] })
  process.exit(0)
}

// ---------------------------------------------------------------------------------------------
// Router: one for every ensemble.

/** Router files by conditioning; the prompt-blind one always exists (the control, or the main one). */
const routerPath = (conditioning: 'prompt' | 'none'): string =>
  join(state, conditioning === 'none' ? 'router.safetensors' : 'router-prompt.safetensors')
for (const conditioning of routerConditioning === 'prompt' ? ['prompt', 'none'] as const : ['none'] as const) {
  if (existsSync(routerPath(conditioning))) continue
  const t0 = performance.now()
  const routerTraining = { steps: settings.routerSteps, batchSize: 64, seed, promptDropout: 0.1 }
  const result = await trainRouter({
    shards: trainShards, heldOut: heldOutShards, preset: 'router-small', conditioning, training: routerTraining
  }, {
    onProgress: (e) => {
      if (e.detail.step % 50 === 0) {
        log('router', { conditioning, step: e.detail.step, loss: Number(e.detail.loss.toFixed(4)) })
      }
    }
  })
  await writeFile(routerPath(conditioning), encodeCheckpoint(routerCheckpoint(result, 'router-small')))
  result.router.dispose()
  const seconds = Math.round((performance.now() - t0) / 1000)
  log('router done', { conditioning, evaluation: result.evaluation, seconds })
}

// ---------------------------------------------------------------------------------------------
// Evaluation helpers.

const classifier: FeatureClassifier = await loadClassifier(args.dataset!)
const testSet = await loadDataset(`${args.dataset!}:test`)
const reference: ReferenceStatistics = referenceStatistics(classifier, testSet)
const evalDir = join(state, 'eval')
const gridDir = join(state, 'grids')
await mkdir(evalDir, { recursive: true })
await mkdir(gridDir, { recursive: true })
const routerFiles = {
  prompt: routerConditioning === 'prompt' ? decodeCheckpoint(await readFile(routerPath('prompt'))) : undefined,
  none: decodeCheckpoint(await readFile(routerPath('none')))
}

/** One model of a configuration: at `m` steps per expert of the schedule it is at `scale` x m steps. */
interface Member { cluster: number, model: string, scale: number }
/** Names with `-blind` are the prompt-blind control. */
interface Configuration {
  name: string
  members: Member[]
  /** Which router mixes the experts (none for the monolith). */
  router?: 'prompt' | 'none'
}
/** One member per cluster: the model `model(c)` for cluster c, at `scale(c)` x m steps. */
const membersOf = (model: (c: number) => string, scale = (_c: number): number => 1): Member[] =>
  Array.from({ length: K }, (_, c) => ({ cluster: c, model: model(c), scale: scale(c) }))
const ddpmOf = (c: number): string => `${ddpmClusters.includes(c) ? 'ddpm' : 'fm'}-c${c}`
const ensembles = [
  { name: 'homogeneous-fm', members: membersOf(c => `fm-c${c}`) },
  { name: 'homogeneous-ddpm', members: membersOf(c => `ddpm-c${c}`) },
  { name: 'heterogeneous', members: membersOf(ddpmOf) }
].filter(e => chosen.includes(e.name))
const blindControls = ensembles.map((e): Configuration => ({ ...e, name: `${e.name}-blind`, router: 'none' }))
const configurations: Configuration[] = [
  ...ensembles.map((e): Configuration => ({ ...e, router: routerConditioning })),
  ...(routerConditioning === 'prompt' ? blindControls : []),
  ...(withMonolith ? [{ name: 'monolith', members: [{ cluster: 0, model: 'monolith-fm', scale: K }] }] : [])
]
/** The DDPM experts at their own budget (outside equal compute), alone and in the heterogeneous mix. */
const ownBudget = `ddpm${ddpmBudget}x`
const ownBudgetConfigurations: Configuration[] = ddpmBudget > 1
  ? [
      {
        of: 'homogeneous-ddpm',
        name: `homogeneous-${ownBudget}`,
        members: membersOf(c => `ddpm-c${c}`, () => ddpmBudget)
      },
      {
        of: 'heterogeneous',
        name: `heterogeneous-${ownBudget}`,
        members: membersOf(ddpmOf, c => ddpmClusters.includes(c) ? ddpmBudget : 1)
      }
    ].filter(e => chosen.includes(e.of)).map(({ of: _, ...e }) => ({ ...e, router: routerConditioning }))
  : []
/** The FM experts at `fmBudget` x S steps: the equal-wall-clock row. */
const fmBudgetConfigurations: Configuration[] = fmBudget > 1 && chosen.includes('homogeneous-fm')
  ? [{ name: `homogeneous-fm${fmBudget}x`, members: membersOf(c => `fm-c${c}`, () => fmBudget) }]
      .map(e => ({ ...e, router: routerConditioning }))
  : []

/** Only the models some configuration or side study uses are trained. */
const used = new Set([...configurations, ...ownBudgetConfigurations, ...fmBudgetConfigurations]
  .flatMap(c => c.members.map(m => m.model)))
if (sideStudies) used.add(`fm-c${convertCluster}`).add(`ddpm-c${convertCluster}`)
const specs = allSpecs.filter(s => used.has(s.name))

async function evaluateConfiguration (config: Configuration, m: number, routing: string): Promise<void> {
  const name = `${config.name}.${routing}.step-${m}`
  const file = join(evalDir, `${name}.json`)
  if (existsSync(file)) return
  const members: EnsembleMember[] = []
  const router = config.router !== undefined ? loadRouter(routerFiles[config.router]!) : undefined
  try {
    for (const { cluster, model, scale } of config.members) {
      const checkpoint = decodeCheckpoint(await readFile(milestonePath(model, scale * m)))
      members.push({ cluster, expert: loadExpert(checkpoint) })
    }
    const t0 = performance.now()
    const { evaluation, bootstrap } = await evaluateWithBootstrap({
      members, router, tokenizer: members[0].expert.tokenizer, routing: parseRouting(routing), classifier, reference,
      ...evalSettings,
      resamples,
      samplesPath: join(evalDir, `${name}.u8`),
      ...(m === S ? { gridPath: join(gridDir, `${config.name}.${routing}.png`) } : {})
    })
    const computeGflops = trainingGflops(config, m)
    await writeJson(file, {
      configuration: config.name, step: m, trainingGflops: computeGflops, members: config.members, evaluation,
      ...(bootstrap !== undefined ? { bootstrap } : {})
    })
    log('eval', {
      configuration: config.name, routing, step: m, fid: Number(evaluation.fid.toFixed(2)),
      fidStd: bootstrap !== undefined ? Number(bootstrap.fid.std.toFixed(2)) : undefined,
      diversity: Number(evaluation.diversity.mean.toFixed(3)), accuracy: evaluation.promptAccuracy.accuracy,
      gflopsPerSample: Number(evaluation.gflopsPerSample.toFixed(3)),
      seconds: Math.round((performance.now() - t0) / 1000)
    })
  } finally {
    router?.dispose()
    for (const member of members) member.expert.dispose()
  }
}

/**
 * Training compute of a configuration at `m` steps per expert: steps x batch x 3 forward passes
 * (forward + backward).
 */
function trainingGflops (config: Configuration, m: number): number {
  const cfg = expertConfigOf(preset)
  const perImage = 3 * expertForwardFlops(cfg)
  const expertSteps = config.members.reduce((total, member) => total + member.scale * m, 0)
  return expertSteps * B * perImage / 1e9
}

function expertConfigOf (name: string): DiTConfig {
  const tokenizer = Tokenizer.fromJSON(decodeShard(trainShards[0]).header.tokenizer)
  const base = EXPERT_PRESETS[name as ExpertPresetName]
  return { ...base, vocabSize: tokenizer.vocabSize, promptTokens: tokenizer.maxLength }
}

// ---------------------------------------------------------------------------------------------
// The schedule: milestone by milestone, every model, then the curve point (top-1) of every
// configuration; the full table (all routings) at the last milestone.

for (const m of milestones) {
  for (const spec of specs) {
    for (const stop of spec.stops.filter(s => s <= (spec.cluster === 'all' ? K * m : m))) await trainTo(spec, stop)
  }
  const routingsOf = (config: Configuration): string[] => {
    if (config.router === undefined) return ['full']
    // The prompt-blind control: top-1 at the last milestone only.
    if (config.name.endsWith('-blind')) return m === S ? ['top1'] : []
    return m === S ? finalRoutings : ['top1']
  }
  // Pass by pass: every configuration's first routing (top-1; the monolith's only one) before any
  // second, so that a run cut short still has the comparison the table is for.
  const passes = Math.max(...configurations.map(c => routingsOf(c).length))
  for (let pass = 0; pass < passes; pass++) {
    for (const config of configurations) {
      const routing = routingsOf(config)[pass]
      if (routing !== undefined) await evaluateConfiguration(config, m, routing)
    }
  }
}

// The DDPM experts at their own budget: trained on from their step-S milestone (exact resume).
for (const spec of specs.filter(s => s.objective === 'ddpm')) {
  for (const stop of spec.stops) await trainTo(spec, stop)
}
// Their top-1 rows now; the other routings at the end: routing changed nothing in any
// equal-compute ensemble, and the side studies below answer questions of their own.
for (const config of ownBudgetConfigurations) await evaluateConfiguration(config, S, 'top1')

// The FM experts at the monolith's number of updates (equal wall-clock), trained on the same way.
for (const spec of specs.filter(s => s.objective === 'fm' && s.cluster !== 'all')) {
  for (const stop of spec.stops) await trainTo(spec, stop)
}
for (const config of fmBudgetConfigurations) await evaluateConfiguration(config, S, 'top1')

// DDPM -> FM initialisation against FM from scratch on the same cluster, same seeds and batches.
const convertSpec: ModelSpec = {
  name: `fm-from-ddpm-c${convertCluster}`,
  objective: 'fm',
  shard: trainShards[convertCluster],
  cluster: convertCluster,
  stops: convertStops,
  init: milestonePath(`ddpm-c${convertCluster}`, S)
}
for (const stop of sideStudies ? convertSpec.stops : []) await trainTo(convertSpec, stop)

// AdaLN-Zero: the same FM expert (cluster, seed, batches, noise) with per-block modulation MLPs.
const zeroName = `fm-adaln-zero-c${convertCluster}`
if (sideStudies && !existsSync(milestonePath(zeroName, adalnSteps))) await trainAdaLNZero(zeroName, adalnSteps)
const adalnArms = [[`fm-c${convertCluster}`, 'single'], [zeroName, 'zero']] as const
for (const [name, kind] of sideStudies ? adalnArms : []) {
  const file = join(evalDir, `adaln-${kind}.step-${adalnSteps}.json`)
  if (existsSync(file)) continue
  const checkpoint = decodeCheckpoint(await readFile(milestonePath(name, adalnSteps)))
  const expert = loadExpert(checkpoint)
  try {
    const { reference: clusterReference, prompts } = clusterTestReference(convertCluster)
    const { evaluation } = await evaluateEnsemble({
      members: [{ cluster: convertCluster, expert }], tokenizer: expert.tokenizer, routing: { kind: 'full' },
      classifier, reference: clusterReference, prompts, ...evalSettings
    })
    const params = expertParamCount(expert.model.config)
    await writeJson(file, { adaln: kind, model: name, step: adalnSteps, params, evaluation })
    log('adaln', { kind, params: params.total, fid: Number(evaluation.fid.toFixed(2)) })
  } finally {
    expert.dispose()
  }
}

/** The test images the run's cluster model puts in cluster c, and their prompts (the classes in their natural mix). */
function clusterTestReference (c: number): { reference: ReferenceStatistics, prompts: string[] } {
  const assignment: number[] = JSON.parse(readFileSync(join(state, 'test-clusters.json'), 'utf8'))
  const rows = assignment.flatMap((a, i) => a === c ? [i] : [])
  const subset = subsetDataset(testSet, rows, `${testSet.name}/cluster-${c}`)
  const order = Random.derive(evalSettings.seed, 'adaln/prompts').permutation(subset.count)
  return { reference: referenceStatistics(classifier, subset), prompts: Array.from(order, i => subset.prompts[i]) }
}

// Expert x cluster held-out loss matrices of the final experts (and the monolith's row).
const matrixFile = join(evalDir, `loss-matrix.step-${S}.json`)
if (!existsSync(matrixFile)) {
  const rows: Array<{ cluster: number, checkpoint: Checkpoint }> = []
  for (const spec of specs) {
    if (spec.cluster === 'all') continue
    rows.push({ cluster: spec.cluster, checkpoint: decodeCheckpoint(await readFile(milestonePath(spec.name, S))) })
  }
  const matrix = await expertClusterLossMatrix(rows, heldOutShards, HELD_OUT)
  const monolithCheckpoint = withMonolith ? decodeCheckpoint(readFileSync(milestonePath('monolith-fm', K * S))) : null
  const monolith = monolithCheckpoint !== null
    ? heldOutShards.map(h => expertHeldOutLoss(monolithCheckpoint, h, HELD_OUT))
    : undefined
  await writeJson(matrixFile, { ...matrix, ...(monolith !== undefined ? { monolith } : {}) })
  for (const line of formatLossMatrix(matrix)) log('loss-matrix', { line })
}

for (const routing of finalRoutings.filter(r => r !== 'top1')) {
  for (const config of ownBudgetConfigurations) await evaluateConfiguration(config, S, routing)
}

await writeExperimentReport(state)
log('done', { seconds: Math.round((performance.now() - started) / 1000) })

// ---------------------------------------------------------------------------------------------

async function trainAdaLNZero (name: string, steps: number): Promise<void> {
  const t0 = performance.now()
  const shard: Shard = decodeShard(trainShards[convertCluster])
  const tokenizer = Tokenizer.fromJSON(shard.header.tokenizer)
  const config: DiTConfig = { ...expertConfigOf(preset), adaln: 'zero' }
  const c = resolveTrainingConfig({ ...training, steps })
  const model = new DiT(config, c.seed)
  const ema = new Ema(model.params, c.emaDecay)
  const { learningRate, beta1, beta2, epsilon, weightDecay } = c
  const adam = new Adam(model.params, { learningRate, beta1, beta2, epsilon, weightDecay })
  const batcher = new ShardBatcher(shard, { batchSize: c.batchSize, seed: c.seed, promptDropout: c.promptDropout })
  const times = Random.derive(c.seed, 'train/time')
  const noise = Random.derive(c.seed, 'train/noise')
  const objective = createObjective('fm')
  try {
    for (let step = 0; step < steps; step++) {
      const batch = batcher.next()
      const u = Float32Array.from({ length: c.batchSize }, () => times.nextFloat())
      adam.learningRate = learningRateAt(step, c)
      const { loss } = expertTrainStep(model, objective, adam, batch, { u, noiseSeed: noise.nextUint32() }, c.clipNorm)
      ema.update()
      if ((step + 1) % 50 === 0) log('step', { model: name, step: step + 1, loss: Number(loss.toFixed(4)) })
      await new Promise(resolve => setImmediate(resolve))
    }
    const checkpoint: Checkpoint = {
      metadata: {
        format: CHECKPOINT_FORMAT, network: 'expert', config: { ...config }, preset: `${preset}+adaln-zero`,
        objective: 'fm', cluster: convertCluster, step: steps, extra: { tokenizer: tokenizer.toJSON(), training: c }
      },
      tensors: ema.toTensors()
    }
    await mkdir(join(expertDir, name), { recursive: true })
    await writeFile(milestonePath(name, steps), encodeCheckpoint(checkpoint))
    const heldOut = [expertHeldOutLoss(checkpoint, heldOutShards[convertCluster], HELD_OUT)]
    const milestoneJson = milestonePath(name, steps).replace('.safetensors', '.json')
    await writeJson(milestoneJson, { model: name, step: steps, heldOut, seconds: (performance.now() - t0) / 1000 })
    log('milestone', { model: name, step: steps, heldOut, seconds: Math.round((performance.now() - t0) / 1000) })
  } finally {
    adam.dispose()
    ema.dispose()
    model.dispose()
  }
}
