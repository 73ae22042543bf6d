/**
 * Router training (DESIGN section 5): the router learns p(k | x_t, t[, c]) from FM-noised
 * images of every cluster, drawn with the clusters' natural frequencies (cluster k with
 * probability pi_k = n_k / N, then a uniform image of shard k), so its posterior carries the
 * prior the ensemble needs. A prompt router also reads each image's prompt, replaced by the
 * null prompt with probability `promptDropout`, so the same network gives p(k | x_t, t) too.
 * Evaluation reports accuracy per flow-time bucket on the held-out shards (prompted and, for
 * prompt routers, with the null prompt) against two baselines: the majority cluster (what the
 * prior alone scores) and the prompt's most common cluster (what p(k | c) alone scores, the
 * accuracy a prompt router should keep at t -> 1).
 */
import * as tf from '@tensorflow/tfjs'
import { dropPrompts } from '../data/batcher.js'
import { imageSize } from '../data/dataset.js'
import { Random } from '../data/random.js'
import { decodeShard, type Shard } from '../data/shard.js'
import { Tokenizer } from '../data/tokenizer.js'
import { InvalidArgumentError, throwIfAborted } from '../hddm-error.js'
import { routerConfig } from '../checkpoint/router.js'
import { evaluateRouter, type RouterEvaluation } from '../checkpoint/router-score.js'
import type { RouterConditioning } from '../model/config.js'
import { Router } from '../model/router.js'
import { checkDeviceFit } from '../model/buffer-fit.js'
import { CustomProgressEvent, type AbortOptions, type ProgressEvent, type ProgressOptions } from '../progress.js'
import { CHECKPOINT_FORMAT, paramsToTensors, type Checkpoint } from '../checkpoint/format.js'
import { Adam } from './adam.js'
import { learningRateAt } from './lr-schedule.js'
import { routerTrainStep, type RouterBatch } from './router-step.js'

export interface RouterTrainingConfig {
  steps: number
  batchSize: number
  learningRate: number
  warmupSteps: number
  clipNorm: number
  seed: number
  /** Prompt routers: probability of training on the null prompt instead (gives p(k | x_t, t)). */
  promptDropout: number
}

export const ROUTER_TRAINING_DEFAULTS: RouterTrainingConfig = {
  steps: 1000, batchSize: 64, learningRate: 1e-3, warmupSteps: 50, clipNorm: 1, seed: 1, promptDropout: 0.1
}

export interface RouterJob {
  /** Encoded train shards, index = cluster. */
  shards: Uint8Array[]
  /** Encoded held-out shards, index = cluster (for the accuracy report). */
  heldOut?: Uint8Array[]
  preset: string
  /** Default 'none' (the HDDM paper's router). */
  conditioning?: RouterConditioning
  training?: Partial<RouterTrainingConfig>
  /** Flow-time buckets of the accuracy report (default 5). */
  buckets?: number
}

export interface RouterTrainResult {
  router: Router
  config: RouterTrainingConfig
  /** The run's tokenizer, for prompt routers (stored with the checkpoint, as experts store it). */
  tokenizer?: Tokenizer
  pi: number[]
  losses: number[]
  evaluation?: RouterEvaluation
}

export type RouterProgressEvents =
  | ProgressEvent<'hddm:train:router:step', { step: number, steps: number, loss: number }>

export interface TrainRouterOptions extends AbortOptions, ProgressOptions<RouterProgressEvents> {
  /** Calls `onCheckpoint` after every this many steps (not after the last: the caller has the result). */
  checkpointEvery?: number
  /**
   * The router as trained so far, without an evaluation: what a node announces as lease evidence
   * while a long router budget runs (docs/PROTOCOL.md 5.8). The router stays the trainer's.
   */
  onCheckpoint?: (snapshot: RouterTrainResult) => void | Promise<void>
}

/** Trains a router; the caller owns (and disposes) the returned Router. */
export async function trainRouter (job: RouterJob, options: TrainRouterOptions = {}): Promise<RouterTrainResult> {
  const c: RouterTrainingConfig = { ...ROUTER_TRAINING_DEFAULTS, ...job.training }
  const positiveInt = (n: number): boolean => Number.isSafeInteger(n) && n >= 1
  if (!positiveInt(c.steps) || !positiveInt(c.batchSize)) {
    throw new InvalidArgumentError('router training: steps and batchSize must be positive integers')
  }
  const shards = job.shards.map(decodeShard)
  if (shards.length < 2) throw new InvalidArgumentError(`a router needs at least 2 clusters, got ${shards.length}`)
  const counts = shards.map(s => s.header.count)
  if (counts.some(n => n === 0)) throw new InvalidArgumentError('every cluster needs at least one training image')
  const total = counts.reduce((a, b) => a + b, 0)
  const pi = counts.map(n => n / total)
  const conditioning = job.conditioning ?? 'none'
  const tokenizer = conditioning === 'prompt' ? Tokenizer.fromJSON(shards[0].header.tokenizer) : undefined
  const prompts = tokenizer !== undefined ? shards.map(s => tokenizer.encodeBatch(s.header.prompts)) : undefined
  const config = routerConfig(job.preset, shards.length, conditioning, tokenizer)
  checkDeviceFit(config, c.batchSize)   // on webgpu: a tensor over the device's buffer limit fails here
  const router = new Router(config, c.seed)
  const adam = new Adam(router.params, {
    learningRate: c.learningRate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0
  })
  const draw = Random.derive(c.seed, 'router/draw')
  const times = Random.derive(c.seed, 'router/time')
  const noise = Random.derive(c.seed, 'router/noise')
  const dropout = Random.derive(c.seed, 'router/prompt-dropout')
  const losses: number[] = []
  try {
    for (let step = 0; step < c.steps; step++) {
      throwIfAborted(options.signal)
      const batch = naturalBatch(shards, pi, c.batchSize, draw, prompts)
      if (batch.tokens !== undefined) dropPrompts(batch.tokens, tokenizer!.maxLength, c.promptDropout, dropout)
      const t = Float32Array.from({ length: c.batchSize }, () => times.nextFloat())
      adam.learningRate = learningRateAt(step, { ...c, lrSchedule: 'constant', minLearningRate: 0 })
      const { loss } = routerTrainStep(router, adam, batch, { t, noiseSeed: noise.nextUint32() }, c.clipNorm)
      losses.push(loss)
      options.onProgress?.(new CustomProgressEvent('hddm:train:router:step', { step: step + 1, steps: c.steps, loss }))
      const every = options.checkpointEvery ?? 0
      if (options.onCheckpoint !== undefined && every > 0 && (step + 1) % every === 0 && step + 1 < c.steps) {
        await options.onCheckpoint({ router, config: c, tokenizer, pi, losses: losses.slice() })
      }
      await new Promise(resolve => setImmediate(resolve))
    }
    const heldOut = job.heldOut?.map(decodeShard)
    const scoring = { buckets: job.buckets, seed: c.seed }
    const evaluation = heldOut !== undefined ? evaluateRouter(router, heldOut, scoring) : undefined
    return { router, config: c, tokenizer, pi, losses, evaluation }
  } catch (err) {
    router.dispose()
    throw err
  } finally {
    adam.dispose()
  }
}

/**
 * Cluster k ~ pi, then a uniform image of shard k; pixels mapped to [-1, 1]. With `prompts`
 * (per shard, its header's prompts encoded [P, L]), each image's prompt tokens too.
 */
function naturalBatch (shards: Shard[], pi: number[], B: number, random: Random, prompts?: Int32Array[]): RouterBatch {
  const size = imageSize(shards[0].header)
  const L = prompts === undefined ? 0 : prompts[0].length / Math.max(1, shards[0].header.prompts.length)
  const images = new Float32Array(B * size)
  const clusters = new Int32Array(B)
  const tokens = prompts === undefined ? undefined : new Int32Array(B * L)
  for (let b = 0; b < B; b++) {
    let u = random.nextFloat()
    let k = 0
    while (k < pi.length - 1 && u >= pi[k]) u -= pi[k++]
    const i = random.nextInt(shards[k].header.count)
    const src = shards[k].pixels.subarray(i * size, (i + 1) * size)
    for (let p = 0; p < size; p++) images[b * size + p] = src[p] / 127.5 - 1
    clusters[b] = k
    if (tokens !== undefined) {
      const id = shards[k].promptIds[i]
      tokens.set(prompts![k].subarray(id * L, (id + 1) * L), b * L)
    }
  }
  return { images, clusters, tokens }
}

/** The router as a checkpoint (src/checkpoint/format.ts), with pi and its evaluation. */
export function routerCheckpoint (result: RouterTrainResult, preset: string, meta: { run?: string } = {}): Checkpoint {
  return {
    metadata: {
      format: CHECKPOINT_FORMAT,
      network: 'router',
      config: { ...result.router.config },
      preset,
      step: result.losses.length,
      ...(meta.run !== undefined ? { run: meta.run } : {}),
      extra: {
        pi: result.pi,
        training: result.config,
        ...(result.tokenizer !== undefined ? { tokenizer: result.tokenizer.toJSON() } : {}),
        ...(result.evaluation !== undefined ? { evaluation: result.evaluation } : {})
      }
    },
    tensors: paramsToTensors(result.router.params)
  }
}
