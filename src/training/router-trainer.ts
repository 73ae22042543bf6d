/**
 * Router training (DESIGN section 5): the router learns p(k | x_t, t) from FM-noised images of
 * every cluster, drawn with the clusters' natural frequencies (cluster k with probability
 * pi_k = n_k / N, then a uniform image of shard k), so its posterior carries the prior the
 * ensemble needs. Evaluation reports accuracy per flow-time bucket on the held-out shards
 * against the majority baseline (always answering the largest cluster).
 */
import * as tf from '@tensorflow/tfjs'
import { imageSize } from '../data/dataset.js'
import { Random } from '../data/random.js'
import { decodeShard, type Shard } from '../data/shard.js'
import { InvalidArgumentError, throwIfAborted } from '../errors.js'
import { ROUTER_PRESETS, type RouterConfig, type RouterPresetName } from '../model/config.js'
import { Router } from '../model/router.js'
import { CustomProgressEvent, type AbortOptions, type ProgressEvent, type ProgressOptions } from '../progress.js'
import { CHECKPOINT_FORMAT, paramsToTensors, type Checkpoint } from '../storage/checkpoint.js'
import { Adam } from './adam.js'
import { learningRateAt } from './lr-schedule.js'
import { flowNoised, routerTrainStep } from './router-step.js'

export interface RouterTrainingConfig {
  steps: number
  batchSize: number
  learningRate: number
  warmupSteps: number
  clipNorm: number
  seed: number
}

export const ROUTER_TRAINING_DEFAULTS: RouterTrainingConfig = { steps: 1000, batchSize: 64, learningRate: 1e-3, warmupSteps: 50, clipNorm: 1, seed: 1 }

export interface RouterJob {
  /** Encoded train shards, index = cluster. */
  shards: Uint8Array[]
  /** Encoded held-out shards, index = cluster (for the accuracy report). */
  heldOut?: Uint8Array[]
  preset: string
  training?: Partial<RouterTrainingConfig>
  /** Flow-time buckets of the accuracy report (default 5). */
  buckets?: number
}

export interface BucketAccuracy {
  tMin: number
  tMax: number
  accuracy: number
  count: number
}

export interface RouterEvaluation {
  buckets: BucketAccuracy[]
  /** Fraction of held-out images in the largest cluster: what a constant answer scores. */
  majority: number
}

export interface RouterTrainResult {
  router: Router
  config: RouterTrainingConfig
  pi: number[]
  losses: number[]
  evaluation?: RouterEvaluation
}

export type RouterProgressEvents =
  | ProgressEvent<'hddm:train:router:step', { step: number, steps: number, loss: number }>

export interface TrainRouterOptions extends AbortOptions, ProgressOptions<RouterProgressEvents> {}

export function routerConfig (preset: string, numExperts: number): RouterConfig {
  if (!Object.hasOwn(ROUTER_PRESETS, preset)) throw new InvalidArgumentError(`unknown router preset "${preset}" (expected one of ${Object.keys(ROUTER_PRESETS).join(', ')})`)
  return { ...ROUTER_PRESETS[preset as RouterPresetName], numExperts }
}

/** Trains a router; the caller owns (and disposes) the returned Router. */
export async function trainRouter (job: RouterJob, options: TrainRouterOptions = {}): Promise<RouterTrainResult> {
  const c: RouterTrainingConfig = { ...ROUTER_TRAINING_DEFAULTS, ...job.training }
  if (!Number.isSafeInteger(c.steps) || c.steps < 1 || !Number.isSafeInteger(c.batchSize) || c.batchSize < 1) throw new InvalidArgumentError('router training: steps and batchSize must be positive integers')
  const shards = job.shards.map(decodeShard)
  if (shards.length < 2) throw new InvalidArgumentError(`a router needs at least 2 clusters, got ${shards.length}`)
  const counts = shards.map(s => s.header.count)
  if (counts.some(n => n === 0)) throw new InvalidArgumentError('every cluster needs at least one training image')
  const total = counts.reduce((a, b) => a + b, 0)
  const pi = counts.map(n => n / total)
  const router = new Router(routerConfig(job.preset, shards.length), c.seed)
  const adam = new Adam(router.params, { learningRate: c.learningRate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 })
  const draw = Random.derive(c.seed, 'router/draw')
  const times = Random.derive(c.seed, 'router/time')
  const noise = Random.derive(c.seed, 'router/noise')
  const losses: number[] = []
  try {
    for (let step = 0; step < c.steps; step++) {
      throwIfAborted(options.signal)
      const batch = naturalBatch(shards, pi, c.batchSize, draw)
      const t = Float32Array.from({ length: c.batchSize }, () => times.nextFloat())
      adam.learningRate = learningRateAt(step, { ...c, lrSchedule: 'constant', minLearningRate: 0 })
      const { loss } = routerTrainStep(router, adam, batch, { t, noiseSeed: noise.nextUint32() }, c.clipNorm)
      losses.push(loss)
      options.onProgress?.(new CustomProgressEvent('hddm:train:router:step', { step: step + 1, steps: c.steps, loss }))
      await new Promise(resolve => setImmediate(resolve))
    }
    const evaluation = job.heldOut !== undefined ? evaluateRouter(router, job.heldOut.map(decodeShard), { buckets: job.buckets, seed: c.seed }) : undefined
    return { router, config: c, pi, losses, evaluation }
  } catch (err) {
    router.dispose()
    throw err
  } finally {
    adam.dispose()
  }
}

/** Cluster k ~ pi, then a uniform image of shard k; pixels mapped to [-1, 1]. */
function naturalBatch (shards: Shard[], pi: number[], B: number, random: Random): { images: Float32Array, clusters: Int32Array } {
  const size = imageSize(shards[0].header)
  const images = new Float32Array(B * size)
  const clusters = new Int32Array(B)
  for (let b = 0; b < B; b++) {
    let u = random.nextFloat()
    let k = 0
    while (k < pi.length - 1 && u >= pi[k]) u -= pi[k++]
    const i = random.nextInt(shards[k].header.count)
    const src = shards[k].pixels.subarray(i * size, (i + 1) * size)
    for (let p = 0; p < size; p++) images[b * size + p] = src[p] / 127.5 - 1
    clusters[b] = k
  }
  return { images, clusters }
}

/**
 * Accuracy per flow-time bucket on held-out shards: every held-out image once per bucket, at
 * a seeded time inside the bucket, with its natural frequency (no re-balancing).
 */
export function evaluateRouter (router: Router, heldOut: Shard[], options: { buckets?: number, seed?: number, batchSize?: number } = {}): RouterEvaluation {
  const nb = options.buckets ?? 5
  const B = options.batchSize ?? 256
  const size = imageSize(heldOut[0].header)
  const { imageSize: S, channels: C } = router.config
  const items = heldOut.flatMap((s, k) => Array.from({ length: s.header.count }, (_, i) => ({ k, pixels: s.pixels.subarray(i * size, (i + 1) * size) })))
  if (items.length === 0) throw new InvalidArgumentError('no held-out images to evaluate the router on')
  const times = Random.derive(options.seed ?? 0, 'router/eval-time')
  const buckets: BucketAccuracy[] = []
  for (let b = 0; b < nb; b++) {
    const tMin = b / nb
    const tMax = (b + 1) / nb
    let correct = 0
    for (let start = 0; start < items.length; start += B) {
      const chunk = items.slice(start, start + B)
      const images = new Float32Array(chunk.length * size)
      chunk.forEach((item, j) => { for (let p = 0; p < size; p++) images[j * size + p] = item.pixels[p] / 127.5 - 1 })
      const t = Float32Array.from(chunk, () => tMin + (tMax - tMin) * times.nextFloat())
      const predicted = tf.tidy(() => {
        const x0 = tf.tensor4d(images, [chunk.length, S, S, C])
        return tf.argMax(router.logits(flowNoised(x0, t, times.nextUint32()), tf.tensor1d(t)), 1).dataSync()
      })
      chunk.forEach((item, j) => { if (predicted[j] === item.k) correct++ })
    }
    buckets.push({ tMin, tMax, accuracy: correct / items.length, count: items.length })
  }
  const perCluster = heldOut.map(s => s.header.count)
  return { buckets, majority: Math.max(...perCluster) / items.length }
}

/** The router as a checkpoint (storage/checkpoint.ts format), with pi and its evaluation. */
export function routerCheckpoint (result: RouterTrainResult, preset: string, meta: { run?: string } = {}): Checkpoint {
  return {
    metadata: {
      format: CHECKPOINT_FORMAT,
      network: 'router',
      config: { ...result.router.config },
      preset,
      step: result.losses.length,
      ...(meta.run !== undefined ? { run: meta.run } : {}),
      extra: { pi: result.pi, training: result.config, ...(result.evaluation !== undefined ? { evaluation: result.evaluation } : {}) }
    },
    tensors: paramsToTensors(result.router.params)
  }
}
