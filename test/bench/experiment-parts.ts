/**
 * What test/bench/experiment.ts and test/bench/monolith-curve.ts share: the run's data (clusters,
 * shards and the monolith's union shard), milestone training with resume, the state files, and a
 * bootstrap of FID over samples. One copy, so that the monolith curve is trained on the same data
 * with the same recipe as the experiment's monolith, and a state directory of either stays valid.
 */
import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  assignClusters, buildShards, clusterDataset, encodeShard, loadDataset, Random, shardToDataset, subsetDataset,
  Tokenizer, type Dataset
} from '../../src/data/index.js'
import { expertHeldOutLoss } from '../../src/checkpoint/expert-score.js'
import { decodeCheckpoint, encodeCheckpoint } from '../../src/checkpoint/format.js'
import { publishableCheckpoint } from '../../src/checkpoint/publishable.js'
import {
  classifyImages, evaluateEnsemble, featureStatistics, frechetDistanceTo, precisionRecall, promptGrid,
  type EnsembleEvaluation, type EvaluateEnsembleInput, type FeatureClassifier, type FeatureStatistics,
  type PrecisionRecall
} from '../../src/eval/index.js'
import { trainExpert, CHECKPOINT_FILE, type ExpertTrainingConfig } from '../../src/training/index.js'
import { clusteringFeaturesFor } from '../../src/training/clustering-encoder.js'

export type Log = (what: string, detail?: Record<string, unknown>) => void

/** Held-out loss of every milestone: 4 fixed batches of 64 per cluster. */
export const HELD_OUT = { heldOutBatches: 4, batchSize: 64, seed: 7 }

/** A numeric command-line option; anything else stops the run before it starts. */
export function numberOption<K extends string> (args: Partial<Record<K, unknown>>, name: K): number {
  const v = Number(args[name])
  if (!Number.isFinite(v)) throw new Error(`--${name} must be a number, got ${String(args[name])}`)
  return v
}

export async function writeJson (path: string, value: unknown): Promise<void> {
  // Through a rename, so a run killed mid-write never leaves a truncated file that a rerun would trust.
  await writeFile(path + '.tmp', JSON.stringify(value, null, 2) + '\n')
  await rename(path + '.tmp', path)
}

export async function readJson<T> (path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T
}

/**
 * Writes `settings` on the first run; on a rerun, fails unless they equal the saved ones, bar the
 * `free` keys (other steps or seeds would mix two experiments in one directory).
 */
export async function checkSettings (path: string, settings: Record<string, unknown>, free: string[]): Promise<void> {
  if (!existsSync(path)) {
    await writeJson(path, settings)
    return
  }
  const saved = await readJson<Record<string, unknown>>(path)
  const without = Object.fromEntries(free.map(k => [k, undefined]))
  const a = JSON.stringify({ ...saved, ...without })
  const b = JSON.stringify({ ...settings, ...without })
  if (a !== b) throw new Error(`${path} holds other settings; use another --state or the same flags:\n${a}\n${b}`)
}

// ---------------------------------------------------------------------------------------------
// Data: the run's clusters and shards, plus the monolith's shard (the union of the K train shards).

export interface DataSettings { dataset: string, features: 'encoder' | 'pca', K: number, dataSeed: number }

export interface RunData {
  trainShards: Uint8Array[]
  heldOutShards: Uint8Array[]
  /** The union of the K train shards, one cluster: what the monolith trains on. */
  monolithShard: Uint8Array
}

/** Builds the shards under <state>/shards on the first run (and the cluster files), then reads them. */
export async function prepareData (state: string, data: DataSettings, log: Log): Promise<RunData> {
  const { K } = data
  const shardDir = join(state, 'shards')
  await mkdir(shardDir, { recursive: true })
  const shardFile = (name: string): string => join(shardDir, `${name}.hddmshard`)
  if (!existsSync(shardFile('monolith.train'))) {
    const dataset = await loadDataset(data.dataset)
    const { map } = await clusteringFeaturesFor(data.dataset, data.features)
    const clustering = await clusterDataset(dataset, { k: K, seed: data.dataSeed, features: map })
    const shards = buildShards(dataset, clustering, { heldOutFraction: 0.05, seed: data.dataSeed })
    for (const s of shards) {
      await writeFile(shardFile(`cluster-${s.cluster}.train`), encodeShard(s.train))
      await writeFile(shardFile(`cluster-${s.cluster}.held-out`), encodeShard(s.heldOut))
    }
    // Test images by the run's cluster model: the reference of a single expert's FID.
    const test = await loadDataset(`${data.dataset}:test`)
    await writeJson(join(state, 'test-clusters.json'), Array.from(assignClusters(clustering.model, test)))
    await writeJson(join(state, 'clustering.json'), {
      features: data.features, sizes: clustering.sizes, pi: clustering.pi, labelCounts: clustering.labelCounts,
      purity: clustering.purity, concentration: clustering.concentration
    })
    const tokenizer = Tokenizer.fromJSON(shards[0].train.header.tokenizer)
    const union = unionDataset(shards.map(s => shardToDataset(s.train)))
    const mono = buildShards(union, { k: 1, assignments: new Int32Array(union.count), digest: 'monolith' }, {
      heldOutFraction: 0, seed: data.dataSeed, tokenizer
    })[0]
    await writeFile(shardFile('monolith.train'), encodeShard(mono.train))
    log('data', { sizes: clustering.sizes, monolith: union.count })
  }
  const read = async (names: string[]): Promise<Uint8Array[]> =>
    await Promise.all(names.map(async n => await readFile(shardFile(n))))
  const clusters = Array.from({ length: K }, (_, c) => c)
  return {
    trainShards: await read(clusters.map(c => `cluster-${c}.train`)),
    heldOutShards: await read(clusters.map(c => `cluster-${c}.held-out`)),
    monolithShard: (await read(['monolith.train']))[0]
  }
}

export function unionDataset (parts: Dataset[]): Dataset {
  const first = parts[0]
  const count = parts.reduce((n, p) => n + p.count, 0)
  const pixels = new Uint8Array(parts.reduce((n, p) => n + p.pixels.length, 0))
  const labels = new Int32Array(count)
  let o = 0
  let l = 0
  for (const p of parts) { pixels.set(p.pixels, o); o += p.pixels.length; labels.set(p.labels!, l); l += p.count }
  return {
    name: 'monolith', width: first.width, height: first.height, channels: first.channels, count, pixels, labels,
    classNames: first.classNames, prompts: parts.flatMap(p => p.prompts)
  }
}

// ---------------------------------------------------------------------------------------------
// Training: each model trains in segments up to its milestones; each milestone's EMA weights are
// kept as a publishable checkpoint, with its held-out loss.

export interface ModelSpec {
  name: string
  objective: 'fm' | 'ddpm'
  shard: Uint8Array
  cluster: number | 'all'
  stops: number[]
  init?: string
}

export interface TrainContext {
  /** <state>/experts: one folder per model, holding its resumable checkpoint and its milestones. */
  expertDir: string
  preset: string
  training: Partial<ExpertTrainingConfig>
  heldOutShards: Uint8Array[]
  log: Log
}

export function milestonePath (expertDir: string, name: string, step: number): string {
  return join(expertDir, name, `step-${step}.safetensors`)
}

/** What one call of {@link trainTo} trained: from the resume checkpoint's step (0: from scratch) to the milestone. */
export interface Segment { fromStep: number, toStep: number, seconds: number }

/**
 * Trains `spec` to `step` unless that milestone exists (then undefined), continuing from the
 * model's resumable checkpoint (the trainer's resume is draw-for-draw exact, so segments add up
 * to one run).
 */
export async function trainTo (ctx: TrainContext, spec: ModelSpec, step: number): Promise<Segment | undefined> {
  const { expertDir, preset, training, heldOutShards, log } = ctx
  const target = milestonePath(expertDir, spec.name, step)
  if (existsSync(target)) return undefined
  const outDir = join(expertDir, spec.name)
  const resumePath = join(outDir, CHECKPOINT_FILE)
  let resume: Uint8Array | undefined
  let at = 0
  if (existsSync(resumePath)) {
    resume = await readFile(resumePath)
    at = decodeCheckpoint(resume).metadata.step ?? 0
    if (at > step) {
      throw new Error(`${spec.name}: resumable checkpoint is at step ${at}, past milestone ${step}; ` +
        `delete ${resumePath} to retrain`)
    }
  }
  const init = resume === undefined && spec.init !== undefined ? await readFile(spec.init) : undefined
  const segmentStart = performance.now()
  let last = { step: 0, loss: NaN }
  const result = await trainExpert({
    shard: spec.shard, preset, objective: spec.objective, outDir,
    training: { ...training, steps: step },
    ...(resume !== undefined ? { resume } : {}),
    ...(init !== undefined ? { init } : {})
  }, {
    onProgress: (e) => {
      if (e.type !== 'hddm:train:step') return
      last = { step: e.detail.step, loss: e.detail.loss }
      if (e.detail.step % 50 === 0) {
        const loss = Number(e.detail.loss.toFixed(4))
        const imagesPerSecond = Math.round(e.detail.imagesPerSecond)
        log('step', { model: spec.name, step: e.detail.step, loss, imagesPerSecond })
      }
    }
  })
  const checkpoint = publishableCheckpoint(decodeCheckpoint(await readFile(result.path)))
  await writeFile(target + '.tmp', encodeCheckpoint(checkpoint))
  await rename(target + '.tmp', target)
  const heldOut = spec.cluster === 'all'
    ? heldOutShards.map(h => expertHeldOutLoss(checkpoint, h, HELD_OUT))
    : [expertHeldOutLoss(checkpoint, heldOutShards[spec.cluster], HELD_OUT)]
  await writeJson(target.replace('.safetensors', '.json'), {
    model: spec.name, step, loss: result.loss, lastLoggedLoss: last.loss, heldOut,
    seconds: (performance.now() - segmentStart) / 1000
  })
  log('milestone', {
    model: spec.name,
    step,
    heldOut: heldOut.map(v => Number(v.toFixed(4))),
    seconds: Math.round((performance.now() - segmentStart) / 1000)
  })
  return { fromStep: at, toStep: step, seconds: (performance.now() - segmentStart) / 1000 }
}

// ---------------------------------------------------------------------------------------------
// Noise of an evaluation: a bootstrap over its samples.

export interface Interval { lo: number, hi: number, mean: number, std: number }

export interface BootstrapResult {
  resamples: number
  level: number
  seed: number
  /**
   * Percentile interval of FID over resampled sample sets. Resampling with replacement repeats
   * samples, and FID is biased upwards at small N, so `mean` sits above the point estimate:
   * read `std` and the interval's width as the noise, not its position.
   */
  fid: Interval
  promptAccuracy: Interval
}

/**
 * FID and prompt accuracy over `resamples` sample sets drawn with replacement from one
 * evaluation's `count` rows of classifier features and predictions. The reference's square root
 * is taken once, so each resample costs one eigendecomposition (tr((S R)^1/2) = tr((R^1/2 S R^1/2)^1/2)).
 */
export function bootstrapMetrics (input: {
  features: Float32Array
  dim: number
  predictions: Int32Array
  /** The class index each sample was prompted with (-1: no class). */
  labels: Int32Array
  reference: FeatureStatistics
  resamples: number
  seed: number
  level?: number
}): BootstrapResult {
  const { features, dim, predictions, labels, reference, resamples, seed } = input
  const level = input.level ?? 0.9
  const count = predictions.length
  const distance = frechetDistanceTo(reference)
  const random = Random.derive(seed, 'bootstrap')
  const fids: number[] = []
  const accuracies: number[] = []
  const rows = new Float32Array(count * dim)
  for (let r = 0; r < resamples; r++) {
    let correct = 0
    let scored = 0
    for (let i = 0; i < count; i++) {
      const k = random.nextInt(count)
      rows.set(features.subarray(k * dim, (k + 1) * dim), i * dim)
      if (labels[k] >= 0) { scored++; if (predictions[k] === labels[k]) correct++ }
    }
    fids.push(distance(featureStatistics(rows, dim)))
    accuracies.push(scored > 0 ? correct / scored : NaN)
  }
  return { resamples, level, seed, fid: interval(fids, level), promptAccuracy: interval(accuracies, level) }
}

function interval (values: number[], level: number): Interval {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.round(Math.min(1, Math.max(0, q)) * (sorted.length - 1))]
  const mean = values.reduce((s, v) => s + v, 0) / values.length
  const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, values.length - 1))
  return { lo: at((1 - level) / 2), hi: at((1 + level) / 2), mean, std }
}

/** One evaluation with its noise: what {@link evaluateWithBootstrap} returns and the run keeps. */
export interface NoisyEvaluation {
  evaluation: EnsembleEvaluation
  bootstrap?: BootstrapResult & { seconds: number }
}

/**
 * {@link evaluateEnsemble}, then a bootstrap over its samples (none when `resamples` is 0); the
 * samples are kept as bytes (`samplesPath`, [N, H, W] as the datasets store them) so later metrics
 * need no resampling, and as a prompt grid (`gridPath`) when given.
 */
export async function evaluateWithBootstrap (
  input: EvaluateEnsembleInput & { resamples: number, samplesPath: string, gridPath?: string }
): Promise<NoisyEvaluation> {
  const { evaluation, images, shape, prompts } = await evaluateEnsemble(input)
  let bootstrap: NoisyEvaluation['bootstrap']
  if (input.resamples > 0) {
    const t0 = performance.now()
    const classified = classifyImages(input.classifier, images)
    const classNames = input.classifier.info.classNames
    const result = bootstrapMetrics({
      features: classified.features,
      dim: classified.featureSize,
      predictions: classified.predictions,
      labels: Int32Array.from(prompts, p => classNames.indexOf(p)),
      reference: input.reference,
      resamples: input.resamples,
      seed: input.seed
    })
    bootstrap = { ...result, seconds: (performance.now() - t0) / 1000 }
  }
  const bytes = Uint8Array.from(images, x => Math.round((Math.min(1, Math.max(-1, x)) + 1) * 127.5))
  await writeFile(input.samplesPath, bytes)
  if (input.gridPath !== undefined) await writeFile(input.gridPath, promptGrid(images, shape, prompts, 8))
  return { evaluation, ...(bootstrap !== undefined ? { bootstrap } : {}) }
}

/** The draw of real images precision and recall compare samples with, in every bench that reports them. */
export const REAL_DRAW_SEED = 10

/** Classifier features of `n` random images of `set` (one fixed draw per seed). */
export function realFeatureDraw (
  classifier: FeatureClassifier, set: Dataset, n: number, seed = REAL_DRAW_SEED
): Float32Array {
  const rows = Array.from(new Random(seed).permutation(set.count).subarray(0, Math.min(n, set.count)))
  return classifyImages(classifier, subsetDataset(set, rows).pixels).features
}

/**
 * Precision and recall of kept samples ([N, H, W] bytes) against as many images of `real` (one
 * fixed draw, kept per N): FID folds "unlike real images" and "missing real images" into one
 * number; these keep them apart.
 */
export function coverageScorer (
  classifier: FeatureClassifier, real: Dataset, seed = REAL_DRAW_SEED
): (samples: Uint8Array) => PrecisionRecall {
  const drawn = new Map<number, Float32Array>()
  return (samples) => {
    const n = samples.length / (real.width * real.height * real.channels)
    let features = drawn.get(n)
    if (features === undefined) drawn.set(n, features = realFeatureDraw(classifier, real, n, seed))
    return precisionRecall(features, classifyImages(classifier, samples).features, classifier.featureSize)
  }
}
