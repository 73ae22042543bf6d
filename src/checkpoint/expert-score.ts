/**
 * How an expert checkpoint is judged by someone who did not train it (docs/SECURITY.md,
 * "Poison that passes verification"): its objective's loss on a shard, with each image's prompt
 * and with the null prompt (classifier-free guidance samples from both), next to the loss of the
 * best trivial predictor on the very same draws.
 *
 * The trivial predictor is the exact posterior mean of the target when every pixel is an
 * independent Gaussian with the shard's own per-pixel mean mu and variance s^2: for a noisy input
 * x = a x0 + b eps (flow matching: a = 1 - t, b = t; DDPM: a = sqrt(abar), b = sqrt(1 - abar)),
 *   E[x0 | x]  = mu + a s^2 / (a^2 s^2 + b^2) (x - a mu)
 *   E[eps | x] =      b     / (a^2 s^2 + b^2) (x - a mu)
 * so the velocity baseline is E[eps|x] - E[x0|x] and the eps baseline E[eps|x]. It knows the
 * data's first two moments and nothing else; a network that cannot beat it has learned nothing
 * an attacker could not fake, whatever the manifest's absolute bound says.
 */
import * as tf from '@tensorflow/tfjs'
import { ShardBatcher } from '../data/batcher.js'
import { imageSize } from '../data/dataset.js'
import { Random } from '../data/random.js'
import { decodeShard, type Shard } from '../data/shard.js'
import type { DdpmObjective } from '../diffusion/objectives/ddpm.js'
import type { Checkpoint } from './format.js'
import { loadExpert } from './expert.js'
import { checkDeviceFit } from '../model/buffer-fit.js'
import { throwIfAborted } from '../hddm-error.js'
import { runPasses, runPassesYielding } from './passes.js'
import type { AbortOptions } from '../progress.js'

export interface ScoreSettings {
  batches: number
  batchSize: number
  /** Seeds the batch order, the times and the noise; a verifier draws its own. */
  seed: number
  /**
   * The data the trivial predictor knows: per-pixel moments of the expert's train shard. By
   * default those of the scored shard, which flatters the predictor on a small shard (fitted to
   * a few dozen held-out images, it "knows" them: 16x below an honest expert's loss in a test).
   */
  moments?: PixelMoments
  /** Rows per forward pass, between which the event loop runs. @default ROWS_PER_PASS */
  rowsPerPass?: number
}

export interface PixelMoments {
  mean: Float32Array
  variance: Float32Array
}

export interface ExpertScore {
  /** The objective's loss with each image's prompt. */
  prompted: number
  /** The same draws with the null prompt. */
  unconditional: number
  /** The per-pixel Gaussian predictor's loss on the same draws. */
  baseline: number
}

/** The held-out evaluation a run's manifest fixes (`eval`), so every peer recomputes the same number. */
export interface HeldOutEval {
  heldOutBatches: number
  batchSize: number
  seed: number
}

/**
 * The held-out loss announced with each expert checkpoint (DESIGN section 6): the objective's
 * loss of the EMA weights on the task's held-out shard with each image's prompt, every random
 * draw fixed by the run's eval seed.
 */
export function expertHeldOutLoss (checkpoint: Checkpoint, heldOutShard: Uint8Array, evaluation: HeldOutEval): number {
  const settings = { batches: evaluation.heldOutBatches, batchSize: evaluation.batchSize, seed: evaluation.seed }
  return runPasses(scoreDraws(checkpoint, heldOutShard, settings, 'held-out/time', false)).prompted
}

/**
 * Rows per forward pass while scoring. Verifiers score on a node's main thread, where one `small`
 * expert at the manifest's default 8 x 64 draws held the event loop for 4.7 s on two cores, and a
 * whole batch of 64 for about 200 ms at a time; passes of 16 rows keep each stall near 50 ms. The
 * loss is a plain mean, so equal slices give the same number (up to float rounding).
 */
export const ROWS_PER_PASS = 16

/**
 * The expert's loss with and without the prompt, and the trivial predictor's, on the same draws.
 * It hands the event loop back after every forward pass of ROWS_PER_PASS rows (gossip, pings and
 * streams go on) and stops there when `signal` fires (AbortError).
 */
export async function scoreExpert (
  checkpoint: Checkpoint, shardBytes: Uint8Array, settings: ScoreSettings, options: AbortOptions = {}
): Promise<ExpertScore> {
  throwIfAborted(options.signal)
  return await runPassesYielding(scoreDraws(checkpoint, shardBytes, settings, 'score/time', true), options)
}

/**
 * One pass over `settings.batches` seeded batches, pausing (yield) after each forward pass.
 * `timeStream` names the time draws (the announced loss and the verifier's score draw different
 * times); `full` false computes the prompted loss only (the other two come back as NaN).
 */
function * scoreDraws (
  checkpoint: Checkpoint, shardBytes: Uint8Array, settings: ScoreSettings, timeStream: string, full: boolean
): Generator<void, ExpertScore> {
  const expert = loadExpert(checkpoint)
  try {
    const { model, objective, tokenizer } = expert
    const shard = decodeShard(shardBytes)
    const { mean, variance } = full ? settings.moments ?? pixelMoments(shard) : { mean: undefined, variance: undefined }
    const batcher = new ShardBatcher(shard, { batchSize: settings.batchSize, seed: settings.seed, tokenizer })
    const times = Random.derive(settings.seed, timeStream)
    const { imageSize: S, channels: C, promptTokens: L } = model.config
    const B = settings.batchSize
    const P = settings.rowsPerPass ?? ROWS_PER_PASS
    checkDeviceFit(model.config, B)   // on webgpu: a tensor over the device's buffer limit fails here
    const nullRows = new Int32Array(B * L)
    for (let b = 0; b < B; b++) nullRows.set(tokenizer.nullTokens(), b * L)
    const totals = { prompted: 0, unconditional: 0, baseline: 0 }
    for (let i = 0; i < settings.batches; i++) {
      const batch = batcher.next()
      const u = Float32Array.from({ length: B }, () => times.nextFloat())
      const x0 = tf.tensor4d(batch.images, [B, S, S, C])
      // tfjs takes a seed of 0 as "no seed" (Math.random): +1 keeps batch 0 of seed 0 seeded.
      const eps = tf.randomNormal([B, S, S, C], 0, 1, 'float32', settings.seed * 7919 + i + 1) as tf.Tensor4D
      const example = objective.trainingExample(x0, eps, u)
      tf.dispose([x0, eps])
      /** The loss on rows [from, from + n) of the batch, weighted by its share of the batch. */
      const sliceLoss = (tokens: Int32Array, from: number, n: number): number => tf.tidy(() => {
        const rows = <T extends tf.Tensor>(x: T): T => x.slice(from, n)
        const prompts = tf.tensor2d(tokens.subarray(from * L, (from + n) * L), [n, L], 'int32')
        const prediction = model.apply(rows(example.input), rows(example.time), prompts)   // [n, S, S, C]
        return objective.loss(prediction, rows(example.target)).dataSync()[0] * n / B
      })
      try {
        for (let from = 0; from < B; from += P) {
          totals.prompted += sliceLoss(batch.tokens, from, Math.min(P, B - from))
          yield
        }
        if (mean === undefined || variance === undefined) {
          totals.unconditional = totals.baseline = NaN
        } else {
          for (let from = 0; from < B; from += P) {
            totals.unconditional += sliceLoss(nullRows, from, Math.min(P, B - from))
            yield
          }
          totals.baseline += tf.tidy(() => {
            const ddpm = objective.name === 'ddpm' ? objective as DdpmObjective : undefined
            const { a, b } = noiseCoefficients(ddpm, u)
            const coefficients = { a: tf.tensor4d(a, [B, 1, 1, 1]), b: tf.tensor4d(b, [B, 1, 1, 1]) }
            const guess = gaussianPrediction(objective.name, example.input, coefficients, { mean, variance }, [S, S, C])
            return objective.loss(guess, example.target).dataSync()[0]
          })
        }
      } finally {
        tf.dispose(Object.values(example) as tf.Tensor[])
      }
    }
    const n = settings.batches
    return { prompted: totals.prompted / n, unconditional: totals.unconditional / n, baseline: totals.baseline / n }
  } finally {
    expert.dispose()
  }
}

/** Per-pixel mean and variance of a shard's images in [-1, 1] (float64 sums). */
export function pixelMoments (shard: Shard): PixelMoments {
  const size = imageSize(shard.header)
  const n = shard.header.count
  const sum = new Float64Array(size)
  const squares = new Float64Array(size)
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < size; p++) {
      const x = shard.pixels[i * size + p] / 127.5 - 1
      sum[p] += x
      squares[p] += x * x
    }
  }
  const mean = Float32Array.from(sum, (s) => s / n)
  // A floor keeps constant pixels (MNIST's border) from a division by zero at t -> 0.
  const variance = Float32Array.from(squares, (q, p) => Math.max(q / n - mean[p] * mean[p], 1e-4))
  return { mean, variance }
}

/** x = a x0 + b eps for each image's draw u: flow matching's t = u, or DDPM's step floor(u T). */
function noiseCoefficients (ddpm: DdpmObjective | undefined, u: Float32Array): { a: Float32Array, b: Float32Array } {
  if (ddpm === undefined) return { a: Float32Array.from(u, (t) => 1 - t), b: Float32Array.from(u) }
  const { schedule } = ddpm
  const abar = Array.from(u, (v) => schedule.alphasCumprod[Math.min(Math.floor(v * schedule.T), schedule.T - 1)])
  return { a: Float32Array.from(abar, Math.sqrt), b: Float32Array.from(abar, (x) => Math.sqrt(1 - x)) }
}

/** The Gaussian posterior mean of the objective's target at x; shapes [B, H, W, C], a and b [B, 1, 1, 1]. */
function gaussianPrediction (
  objective: 'fm' | 'ddpm', x: tf.Tensor4D, { a, b }: { a: tf.Tensor4D, b: tf.Tensor4D },
  moments: PixelMoments, shape: [number, number, number]
): tf.Tensor4D {
  const mean = tf.tensor4d(moments.mean, [1, ...shape])
  const variance = tf.tensor4d(moments.variance, [1, ...shape])
  const centred = tf.sub(x, tf.mul(a, mean))                                       // x - a mu
  const denominator = tf.add(tf.mul(tf.square(a), variance), tf.square(b))        // a^2 s^2 + b^2
  const epsMean = tf.div(tf.mul(b, centred), denominator)
  if (objective === 'ddpm') return epsMean as tf.Tensor4D
  const x0Mean = tf.add(mean, tf.div(tf.mul(tf.mul(a, variance), centred), denominator))
  return tf.sub(epsMean, x0Mean) as tf.Tensor4D
}
