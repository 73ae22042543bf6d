/**
 * How a router is judged: accuracy per flow-time bucket on the held-out shards (prompted and,
 * for prompt routers, with the null prompt) against two baselines: the majority cluster (what
 * the prior alone scores) and the prompt's most common cluster (what p(k | c) alone scores, the
 * accuracy a prompt router should keep at t -> 1).
 */
import * as tf from '@tensorflow/tfjs'
import { imageSize } from '../data/dataset.js'
import { Random } from '../data/random.js'
import type { Shard } from '../data/shard.js'
import { Tokenizer } from '../data/tokenizer.js'
import { flowNoised } from '../diffusion/objectives/flow.js'
import { InvalidArgumentError, throwIfAborted } from '../hddm-error.js'
import type { RouterConditioning } from '../model/config.js'
import type { Router } from '../model/router.js'
import type { AbortOptions } from '../progress.js'
import type { Checkpoint } from './format.js'
import { runPasses, runPassesYielding } from './passes.js'
import { loadRouter } from './router.js'

export interface BucketAccuracy {
  tMin: number
  tMax: number
  accuracy: number
  count: number
}

export interface RouterEvaluation {
  conditioning: RouterConditioning
  /** Accuracy by flow-time bucket, given each image's prompt when the router reads prompts. */
  buckets: BucketAccuracy[]
  /** Prompt routers: the same with the null prompt, i.e. of p(k | x_t, t). */
  unconditional?: BucketAccuracy[]
  /** Fraction of held-out images in the largest cluster: what a constant answer scores. */
  majority: number
  /** Fraction in their prompt's most common cluster: what knowing only the prompt scores. */
  promptBaseline: number
}

/**
 * Accuracy per flow-time bucket on held-out shards: every held-out image once per bucket, at
 * a seeded time inside the bucket, with its natural frequency (no re-balancing). A prompt
 * router is scored with each image's prompt, and again with the null prompt on the same
 * times and noise.
 */
export interface RouterScoreOptions {
  /** Flow-time buckets. @default 5 */
  buckets?: number
  /** Seeds the times and the noise; a verifier draws its own. @default 0 */
  seed?: number
  batchSize?: number
}

export function evaluateRouter (router: Router, heldOut: Shard[], options: RouterScoreOptions = {}): RouterEvaluation {
  return runPasses(evaluationPasses(router, heldOut, options))
}

/**
 * Images per forward pass when a verifier scores a router on a node's main thread: the default
 * run's 3 000 held-out images took 9-28 s in passes of 256 on two loaded cores, all of it
 * without a turn of the event loop; a pass of 64 is a few tens of ms.
 */
export const ROUTER_ROWS_PER_PASS = 64

/**
 * A router checkpoint's held-out evaluation (the router is loaded for it and freed after), as
 * `evaluateRouter` computes it but handing the event loop back after every forward pass
 * (gossip, pings and streams go on) and stopping there when `signal` fires (AbortError).
 */
export async function scoreRouter (
  checkpoint: Checkpoint, heldOut: Shard[], options: RouterScoreOptions = {}, abort: AbortOptions = {}
): Promise<RouterEvaluation> {
  throwIfAborted(abort.signal)
  const router = loadRouter(checkpoint)
  try {
    const passes = evaluationPasses(router.model, heldOut, { batchSize: ROUTER_ROWS_PER_PASS, ...options })
    return await runPassesYielding(passes, abort)
  } finally {
    router.dispose()
  }
}

/** The evaluation, pausing (yield) after each forward pass. */
function * evaluationPasses (
  router: Router, heldOut: Shard[], options: RouterScoreOptions
): Generator<void, RouterEvaluation> {
  const size = imageSize(heldOut[0].header)
  const items = heldOutItems(heldOut, size)
  if (items.length === 0) throw new InvalidArgumentError('no held-out images to evaluate the router on')
  const conditioning = router.conditioning
  const tokenizer = Tokenizer.fromJSON(heldOut[0].header.tokenizer)
  const score = function * (prompted: boolean): Generator<void, BucketAccuracy[]> {
    return yield * bucketAccuracies(router, items, size, prompted ? tokenizer : undefined, tokenizer, options)
  }
  const buckets = yield * score(conditioning === 'prompt')
  const unconditional = conditioning === 'prompt' ? yield * score(false) : undefined
  const perCluster = heldOut.map(s => s.header.count)
  return {
    conditioning,
    buckets,
    ...(unconditional !== undefined ? { unconditional } : {}),
    majority: Math.max(...perCluster) / items.length,
    promptBaseline: promptBaseline(items)
  }
}

interface HeldOutItem {
  k: number
  pixels: Uint8Array
  prompt: string
}

/** Every image of the held-out shards, with its cluster (the shard's index) and its prompt. */
function heldOutItems (heldOut: Shard[], size: number): HeldOutItem[] {
  return heldOut.flatMap((s, k) => Array.from({ length: s.header.count }, (_, i) => ({
    k,
    pixels: s.pixels.subarray(i * size, (i + 1) * size),
    prompt: s.header.prompts[s.promptIds[i]]
  })))
}

/** `prompts` = undefined feeds the null prompt (ignored by routers that read no prompt). */
function * bucketAccuracies (
  router: Router, items: HeldOutItem[], size: number, prompts: Tokenizer | undefined, tokenizer: Tokenizer,
  options: RouterScoreOptions
): Generator<void, BucketAccuracy[]> {
  const nb = options.buckets ?? 5
  const B = options.batchSize ?? 256
  const { imageSize: S, channels: C } = router.config
  const L = tokenizer.maxLength
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
      const tokens = new Int32Array(chunk.length * L)
      chunk.forEach((item, j) => {
        tokens.set(prompts !== undefined ? prompts.encode(item.prompt) : tokenizer.nullTokens(), j * L)
      })
      const t = Float32Array.from(chunk, () => tMin + (tMax - tMin) * times.nextFloat())
      const predicted = tf.tidy(() => {
        const x0 = tf.tensor4d(images, [chunk.length, S, S, C])
        const prompted = router.conditioning === 'prompt'
        const tokenTensor = prompted ? tf.tensor2d(tokens, [chunk.length, L], 'int32') : undefined
        const xt = flowNoised(x0, t, times.nextUint32())
        return tf.argMax(router.logits(xt, tf.tensor1d(t), tokenTensor), 1).dataSync()
      })
      chunk.forEach((item, j) => { if (predicted[j] === item.k) correct++ })
      yield
    }
    buckets.push({ tMin, tMax, accuracy: correct / items.length, count: items.length })
  }
  return buckets
}

/** Share of items whose cluster is their prompt's most common cluster (ties: the lower cluster). */
function promptBaseline (items: HeldOutItem[]): number {
  const byPrompt = new Map<string, number[]>()
  for (const { k, prompt } of items) {
    const counts = byPrompt.get(prompt) ?? []
    counts[k] = (counts[k] ?? 0) + 1
    byPrompt.set(prompt, counts)
  }
  let hits = 0
  for (const counts of byPrompt.values()) hits += Math.max(...Array.from(counts, c => c ?? 0))
  return hits / items.length
}

/** Mean accuracy over flow-time buckets (0 for none): a router's one-number held-out score is 1 minus it. */
export function meanAccuracy (buckets: ReadonlyArray<{ accuracy: number }>): number {
  return buckets.length === 0 ? 0 : buckets.reduce((sum, b) => sum + b.accuracy, 0) / buckets.length
}

/** 1 - mean held-out accuracy, from the evaluation a router checkpoint carries (what its trainer announces). */
export function routerHeldOutError (checkpoint: Checkpoint): number {
  const evaluation = checkpoint.metadata.extra?.evaluation as { buckets?: Array<{ accuracy: number }> } | undefined
  const buckets = evaluation?.buckets ?? []
  return buckets.length === 0 ? 1 : 1 - meanAccuracy(buckets)
}
