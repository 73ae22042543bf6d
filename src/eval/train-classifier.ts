/**
 * Trains the evaluation classifier once (scripts/train-classifier.ts runs it; the weights are
 * committed). Seeded: the init, the batch order, the shift augmentation and the dropout masks
 * all derive from one seed, so the same command on the same backend gives the same weights.
 *
 * Augmentation: every training image is shifted by up to `maxShift` pixels in x and y (the
 * background fills in). Diffusion samples are not perfectly centred the way MNIST digits are;
 * a classifier that has seen shifted digits gives them features like the real ones'.
 */
import * as tf from '@tensorflow/tfjs'
import { imageSize, type Dataset } from '../data/dataset.js'
import { Random } from '../data/random.js'
import { InvalidArgumentError, throwIfAborted } from '../hddm-error.js'
import { CustomProgressEvent, type AbortOptions, type ProgressEvent, type ProgressOptions } from '../progress.js'
import { Adam } from '../training/adam.js'
import {
  FeatureClassifier, classifyImages, DEFAULT_CLASSIFIER_CONFIG, type ClassifierConfig, type ClassifierInfo
} from './classifier.js'

export interface ClassifierTrainingConfig {
  epochs: number
  batchSize: number
  learningRate: number
  /** Cosine decay to this fraction of the learning rate over the run. */
  finalLearningRateFraction: number
  dropout: number
  maxShift: number
  seed: number
  hidden: number[]
}

export const CLASSIFIER_TRAINING_DEFAULTS: ClassifierTrainingConfig = {
  epochs: 12,
  batchSize: 128,
  learningRate: 1e-3,
  finalLearningRateFraction: 0.05,
  dropout: 0.2,
  maxShift: 2,
  seed: 1,
  hidden: DEFAULT_CLASSIFIER_CONFIG.hidden
}

export interface ClassifierEpochDetail {
  epoch: number
  epochs: number
  loss: number
  testAccuracy: number
  seconds: number
}

export type ClassifierProgressEvents =
  | ProgressEvent<'hddm:eval:classifier:epoch', ClassifierEpochDetail>

export interface TrainClassifierOptions extends AbortOptions, ProgressOptions<ClassifierProgressEvents> {
  training?: Partial<ClassifierTrainingConfig>
  /** Recorded in the weights' metadata (`info.command`). */
  command?: string
  datasetName: string
}

export interface TrainClassifierResult {
  classifier: FeatureClassifier
  testAccuracy: number
  epochLosses: number[]
}

export async function trainClassifier (
  train: Dataset, test: Dataset, options: TrainClassifierOptions
): Promise<TrainClassifierResult> {
  const c: ClassifierTrainingConfig = { ...CLASSIFIER_TRAINING_DEFAULTS, ...options.training }
  if (train.labels === undefined || test.labels === undefined || train.classNames === undefined) {
    throw new InvalidArgumentError('the classifier needs a labelled dataset')
  }
  const size = imageSize(train)
  const config: ClassifierConfig = { inputSize: size, hidden: c.hidden, classes: train.classNames.length }
  const info: ClassifierInfo = {
    dataset: options.datasetName,
    classNames: train.classNames,
    seed: c.seed,
    command: options.command,
    training: c
  }
  const classifier = new FeatureClassifier(config, info, c.seed)
  const adam = new Adam(classifier.params, {
    learningRate: c.learningRate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0
  })
  const order = Random.derive(c.seed, 'classifier/order')
  const shifts = Random.derive(c.seed, 'classifier/shift')
  const dropoutSeeds = Random.derive(c.seed, 'classifier/dropout')
  const B = c.batchSize
  const stepsPerEpoch = Math.floor(train.count / B)
  const totalSteps = stepsPerEpoch * c.epochs
  const epochLosses: number[] = []
  let testAccuracy = NaN
  try {
    for (let epoch = 0; epoch < c.epochs; epoch++) {
      const started = performance.now()
      const perm = order.permutation(train.count)
      let lossSum = 0
      for (let s = 0; s < stepsPerEpoch; s++) {
        throwIfAborted(options.signal)
        const step = epoch * stepsPerEpoch + s
        const fraction = c.finalLearningRateFraction
        const cosine = 1 + Math.cos(Math.PI * step / totalSteps) // 2 at the start, 0 at the end
        adam.learningRate = c.learningRate * (fraction + (1 - fraction) * 0.5 * cosine)
        const x = new Float32Array(B * size)
        const labels = new Int32Array(B)
        for (let b = 0; b < B; b++) {
          const i = perm[s * B + b]
          const dx = shifts.nextInt(2 * c.maxShift + 1) - c.maxShift
          const dy = shifts.nextInt(2 * c.maxShift + 1) - c.maxShift
          shiftedImage(train, i, dx, dy, x.subarray(b * size, (b + 1) * size))
          labels[b] = train.labels[i]
        }
        const dropoutSeed = dropoutSeeds.nextUint32()
        const { value, grads } = tf.variableGrads(() => tf.tidy(() => {
          const logits = classifier.logits(tf.tensor2d(x, [B, size]), c.dropout, dropoutSeed)
          const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), config.classes)
          return tf.losses.softmaxCrossEntropy(oneHot, logits) as tf.Scalar
        }), classifier.trainableVariables())
        adam.applyGradients(grads)
        lossSum += value.dataSync()[0]
        tf.dispose([value, ...Object.values(grads)])
        if (s % 50 === 0) await new Promise(resolve => setImmediate(resolve))
      }
      testAccuracy = classifierAccuracy(classifier, test)
      epochLosses.push(lossSum / stepsPerEpoch)
      const seconds = (performance.now() - started) / 1000
      options.onProgress?.(new CustomProgressEvent('hddm:eval:classifier:epoch', {
        epoch: epoch + 1, epochs: c.epochs, loss: lossSum / stepsPerEpoch, testAccuracy, seconds
      }))
    }
  } catch (err) {
    classifier.dispose()
    throw err
  } finally {
    adam.dispose()
  }
  classifier.info.testAccuracy = testAccuracy
  return { classifier, testAccuracy, epochLosses }
}

/** Fraction of a labelled dataset the classifier gets right. */
export function classifierAccuracy (classifier: FeatureClassifier, data: Dataset): number {
  if (data.labels === undefined) throw new InvalidArgumentError('accuracy needs labels')
  const { predictions } = classifyImages(classifier, data.pixels)
  let correct = 0
  for (let i = 0; i < data.count; i++) if (predictions[i] === data.labels[i]) correct++
  return correct / data.count
}

/** Image i shifted by (dx, dy) pixels, in [-1, 1], the uncovered border at the background (-1). */
function shiftedImage (ds: Dataset, i: number, dx: number, dy: number, out: Float32Array): void {
  const { width: W, height: H, channels: C } = ds
  const base = i * W * H * C
  out.fill(-1)
  for (let y = 0; y < H; y++) {
    const sy = y - dy
    if (sy < 0 || sy >= H) continue
    for (let x = 0; x < W; x++) {
      const sx = x - dx
      if (sx < 0 || sx >= W) continue
      for (let ch = 0; ch < C; ch++) out[(y * W + x) * C + ch] = ds.pixels[base + (sy * W + sx) * C + ch] / 127.5 - 1
    }
  }
}
