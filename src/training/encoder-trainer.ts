/**
 * Training of the clustering encoder by contrastive learning on augmented views. Each step
 * draws B images, makes two augmented views of each (data/augment.ts), and scores every view
 * against the other 2B - 1 by cosine similarity of the projections at temperature tau:
 * - `simclr` (Chen et al., 2020), self-supervised: a view's only positive is its partner view
 *   (NT-Xent). No label is read; labels only report progress (1-NN accuracy of the features).
 * - `supcon` (Khosla et al., 2020), supervised: every view of the same class is a positive,
 *   so each class gathers into one region of the sphere.
 *
 * Run once by scripts/train-encoder.ts; the weights ship under src/data/weights/.
 */
import * as tf from '@tensorflow/tfjs'
import { DIGIT_AUGMENT, augmentView, type AugmentInit } from '../data/augment.js'
import { imageSize, type Dataset } from '../data/dataset.js'
import { Random } from '../data/random.js'
import { InvalidArgumentError, throwIfAborted } from '../hddm-error.js'
import {
  DEFAULT_ENCODER_CONFIG, FeatureEncoder, encodeExact, encoderWeights, type FeatureEncoderConfig
} from '../model/feature-encoder.js'
import { CustomProgressEvent, type AbortOptions, type ProgressEvent, type ProgressOptions } from '../progress.js'
import { Adam } from './adam.js'

export type EncoderObjective = 'simclr' | 'supcon'

export interface EncoderTrainingConfig {
  objective: EncoderObjective
  steps: number
  batchSize: number
  learningRate: number
  warmupSteps: number
  weightDecay: number
  temperature: number
  seed: number
  encoder: FeatureEncoderConfig
  augment: AugmentInit
}

export const ENCODER_TRAINING_DEFAULTS: EncoderTrainingConfig = {
  objective: 'simclr',
  steps: 3000,
  batchSize: 256,
  learningRate: 1e-3,
  warmupSteps: 100,
  weightDecay: 1e-4,
  temperature: 0.2,
  seed: 1,
  encoder: DEFAULT_ENCODER_CONFIG,
  augment: DIGIT_AUGMENT
}

export type EncoderProgressEvents =
  | ProgressEvent<'hddm:train:encoder:step', { step: number, steps: number, loss: number }>
  | ProgressEvent<'hddm:train:encoder:probe', { step: number, knnAccuracy: number }>

export interface TrainEncoderOptions extends AbortOptions, ProgressOptions<EncoderProgressEvents> {
  training?: Partial<EncoderTrainingConfig>
  /** Labelled images to report k-NN accuracy on every `probeEvery` steps (never trained on). */
  probe?: { reference: Dataset, queries: Dataset, every: number }
}

export interface TrainEncoderResult {
  encoder: FeatureEncoder
  config: EncoderTrainingConfig
  losses: number[]
}

export async function trainEncoder (train: Dataset, options: TrainEncoderOptions = {}): Promise<TrainEncoderResult> {
  const c: EncoderTrainingConfig = { ...ENCODER_TRAINING_DEFAULTS, ...options.training }
  if (train.channels !== 1) throw new InvalidArgumentError('the clustering encoder is trained on single-channel images')
  if (c.objective === 'supcon' && train.labels === undefined) {
    throw new InvalidArgumentError('supcon training needs labels')
  }
  const size = imageSize(train)
  const encoder = new FeatureEncoder({ ...c.encoder, inputSize: size }, c.seed)
  const adam = new Adam(encoder.params, {
    learningRate: c.learningRate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: c.weightDecay
  })
  const draw = Random.derive(c.seed, 'encoder/draw')
  const views = Random.derive(c.seed, 'encoder/views')
  const B = c.batchSize
  const losses: number[] = []
  // Row i's positive is its other view (i + B for the first half, i - B for the second).
  const [partner, selfMask, notSelf] = tf.tidy(() => [
    tf.oneHot(tf.tensor1d(Array.from({ length: 2 * B }, (_, i) => (i + B) % (2 * B)), 'int32'), 2 * B),
    tf.mul(tf.eye(2 * B), -1e9),
    tf.sub(1, tf.eye(2 * B))
  ])
  try {
    for (let step = 0; step < c.steps; step++) {
      throwIfAborted(options.signal)
      adam.learningRate = c.learningRate * Math.min(1, (step + 1) / Math.max(1, c.warmupSteps)) *
        0.5 * (1 + Math.cos(Math.PI * step / c.steps))
      const x = new Float32Array(2 * B * size)
      const labels = new Int32Array(2 * B)
      for (let b = 0; b < B; b++) {
        const i = draw.nextInt(train.count)
        labels[b] = labels[B + b] = train.labels?.[i] ?? 0
        const src = train.pixels.subarray(i * size, (i + 1) * size)
        augmentView(src, train.width, train.height, c.augment, views, x.subarray(b * size, (b + 1) * size))
        augmentView(src, train.width, train.height, c.augment, views, x.subarray((B + b) * size, (B + b + 1) * size))
      }
      const { value, grads } = tf.variableGrads(() => tf.tidy(() => {
        const z = encoder.project(encoder.features(tf.tensor2d(x, [2 * B, size])))          // [2B, P]
        const logits = tf.add(tf.div(tf.matMul(z, z, false, true), c.temperature), selfMask)  // [2B, 2B]
        if (c.objective === 'simclr') return tf.losses.softmaxCrossEntropy(partner, logits) as tf.Scalar
        // SupCon: the mean log-probability of each row's positives (same class, not itself).
        const l = tf.tensor1d(labels, 'int32')
        const sameClass = tf.cast(tf.equal(tf.expandDims(l, 1), tf.expandDims(l, 0)), 'float32')  // [2B, 2B]
        const positives = tf.mul(sameClass, notSelf)                                             // [2B, 2B]
        const logProb = tf.logSoftmax(logits)
        return tf.neg(tf.mean(tf.div(tf.sum(tf.mul(positives, logProb), 1), tf.sum(positives, 1)))) as tf.Scalar
      }), encoder.trainableVariables())
      adam.applyGradients(grads)
      const loss = value.dataSync()[0]
      tf.dispose([value, ...Object.values(grads)])
      losses.push(loss)
      options.onProgress?.(new CustomProgressEvent('hddm:train:encoder:step', { step: step + 1, steps: c.steps, loss }))
      const probe = options.probe
      if (probe !== undefined && ((step + 1) % probe.every === 0 || step + 1 === c.steps)) {
        const knnAccuracy = nearestNeighbourAccuracy(encoder, probe.reference, probe.queries)
        options.onProgress?.(new CustomProgressEvent('hddm:train:encoder:probe', { step: step + 1, knnAccuracy }))
      }
      if (step % 10 === 0) await new Promise(resolve => setImmediate(resolve))
    }
  } catch (err) {
    encoder.dispose()
    throw err
  } finally {
    adam.dispose()
    tf.dispose([partner, selfMask, notSelf])
  }
  return { encoder, config: c, losses }
}

/** 1-NN accuracy (cosine) of queries against a labelled reference set, in the exact features. */
export function nearestNeighbourAccuracy (encoder: FeatureEncoder, reference: Dataset, queries: Dataset): number {
  if (reference.labels === undefined || queries.labels === undefined) {
    throw new InvalidArgumentError('k-NN accuracy needs labels')
  }
  const weights = encoderWeights(encoder)
  const F = encoder.config.featureDim
  const ref = encodeExact(weights, reference.pixels, reference.count)
  const q = encodeExact(weights, queries.pixels, queries.count)
  let correct = 0
  for (let i = 0; i < queries.count; i++) {
    let best = -Infinity
    let label = -1
    for (let j = 0; j < reference.count; j++) {
      let dot = 0
      for (let f = 0; f < F; f++) dot += q[i * F + f] * ref[j * F + f]
      if (dot > best) { best = dot; label = reference.labels[j] }
    }
    if (label === queries.labels[i]) correct++
  }
  return correct / queries.count
}
