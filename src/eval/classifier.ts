/**
 * The evaluation classifier (DESIGN section 7): a small MLP per dataset whose penultimate
 * activations are the feature space of FID and diversity, and whose argmax scores prompt
 * accuracy. An MLP and not a CNN because tfjs's cpu convolutions have no native kernel here:
 * measured on the native backend at batch 128, an MLP step took 22-50 ms, a two-layer CNN
 * through tf.conv2d did not finish 3 steps in 10 minutes, and im2col through slices 21 s a step.
 *
 *   x [N, H*W*C] in [-1, 1] -> Linear(hidden0) ReLU -> Linear(hidden1) ReLU = features -> Linear(classes)
 *
 * Weights are safetensors (`fc0.weight` [in, out], ...), with the config, the dataset, the
 * test accuracy and the command that trained them in `__metadata__`.
 */
import * as tf from '@tensorflow/tfjs'
import { readFile } from 'node:fs/promises'
import { InvalidArgumentError } from '../hddm-error.js'
import { Params, linearParams, type LinearParams } from '../model/params.js'
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../checkpoint/safetensors.js'
import { CorruptCheckpointError } from '../checkpoint/errors.js'
import { ClassifierNotFoundError } from './errors.js'

export const CLASSIFIER_FORMAT = 'hddm-classifier/1'

export interface ClassifierConfig {
  /** Flattened input size H*W*C. */
  inputSize: number
  /** Hidden widths; the last one is the feature dimension. */
  hidden: number[]
  classes: number
}

/** What the committed weights record about themselves. */
export interface ClassifierInfo {
  dataset: string
  classNames: string[]
  testAccuracy?: number
  seed?: number
  command?: string
  [key: string]: unknown
}

export const DEFAULT_CLASSIFIER_CONFIG: ClassifierConfig = { inputSize: 784, hidden: [512, 128], classes: 10 }

export class FeatureClassifier {
  readonly params: Params
  private readonly layers: LinearParams[]

  constructor (readonly config: ClassifierConfig, readonly info: ClassifierInfo, seed = 1) {
    const widths = [config.inputSize, ...config.hidden, config.classes]
    if (config.hidden.length < 1 || !widths.every(w => Number.isSafeInteger(w) && w > 0)) {
      throw new InvalidArgumentError(`bad classifier config ${JSON.stringify(config)}`)
    }
    this.params = new Params(seed)
    this.layers = widths.slice(1).map((w, i) => linearParams(this.params, `fc${i}`, widths[i], w))
  }

  get featureSize (): number {
    return this.config.hidden[this.config.hidden.length - 1]
  }

  /** Penultimate activations [N, featureSize]; `dropout` > 0 only while training. */
  features (x: tf.Tensor2D, dropout = 0, seed = 0): tf.Tensor2D {
    return tf.tidy(() => {
      let h: tf.Tensor2D = x
      for (let i = 0; i < this.layers.length - 1; i++) {
        const { weight, bias } = this.layers[i]
        h = tf.relu(tf.add(tf.matMul(h, weight), bias)) as tf.Tensor2D
        if (dropout > 0) h = tf.dropout(h, dropout, undefined, seed + i) as tf.Tensor2D
      }
      return h
    })
  }

  logitsFromFeatures (features: tf.Tensor2D): tf.Tensor2D {
    const { weight, bias } = this.layers[this.layers.length - 1]
    return tf.tidy(() => tf.add(tf.matMul(features, weight), bias))
  }

  logits (x: tf.Tensor2D, dropout = 0, seed = 0): tf.Tensor2D {
    return tf.tidy(() => this.logitsFromFeatures(this.features(x, dropout, seed)))
  }

  trainableVariables (): tf.Variable[] {
    return [...this.params.variables.values()]
  }

  dispose (): void {
    this.params.dispose()
  }
}

/** Features and predicted classes of a batch of images, computed in chunks. */
export interface ClassifiedImages {
  count: number
  featureSize: number
  /** [count, featureSize], row-major. */
  features: Float32Array
  predictions: Int32Array
}

/**
 * Runs the classifier over N images ([-1, 1] floats as the samplers return them, or 0-255
 * bytes as datasets hold them), `chunk` at a time so that memory stays bounded.
 */
export function classifyImages (
  classifier: FeatureClassifier, pixels: Float32Array | Uint8Array, chunk = 1000
): ClassifiedImages {
  const size = classifier.config.inputSize
  const count = pixels.length / size
  if (!Number.isInteger(count)) {
    throw new InvalidArgumentError(`${pixels.length} values are not a whole number of ${size}-pixel images`)
  }
  const F = classifier.featureSize
  const features = new Float32Array(count * F)
  const predictions = new Int32Array(count)
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start)
    const input = toUnitRange(pixels.subarray(start * size, (start + n) * size))
    const [f, p] = tf.tidy(() => {
      const feats = classifier.features(tf.tensor2d(input, [n, size]))
      const featureValues = feats.dataSync() as Float32Array
      const classes = tf.argMax(classifier.logitsFromFeatures(feats), 1).dataSync() as Int32Array
      return [featureValues, classes]
    })
    features.set(f, start * F)
    predictions.set(p, start)
  }
  return { count, featureSize: F, features, predictions }
}

/** Bytes 0-255 -> [-1, 1] as the batcher scales images; floats are taken as already in [-1, 1] and clamped. */
export function toUnitRange (pixels: Float32Array | Uint8Array): Float32Array {
  const out = new Float32Array(pixels.length)
  if (pixels instanceof Uint8Array) for (let i = 0; i < out.length; i++) out[i] = pixels[i] / 127.5 - 1
  else for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(-1, pixels[i]))
  return out
}

export function encodeClassifier (classifier: FeatureClassifier): Uint8Array {
  const tensors = new Map<string, NamedTensor>()
  for (const [name, v] of classifier.params.variables) {
    tensors.set(name, { shape: v.shape, data: v.dataSync() as Float32Array })
  }
  const metadata = {
    format: CLASSIFIER_FORMAT,
    config: JSON.stringify(classifier.config),
    info: JSON.stringify(classifier.info)
  }
  return encodeSafetensors({ tensors, metadata })
}

export function decodeClassifier (bytes: Uint8Array): FeatureClassifier {
  const { tensors, metadata } = decodeSafetensors(bytes)
  if (metadata.format !== CLASSIFIER_FORMAT) {
    throw new CorruptCheckpointError(`not a classifier file (format ${String(metadata.format)})`)
  }
  let config: ClassifierConfig
  let info: ClassifierInfo
  try {
    config = JSON.parse(metadata.config)
    info = JSON.parse(metadata.info)
  } catch {
    throw new CorruptCheckpointError('classifier metadata is not valid JSON')
  }
  const classifier = new FeatureClassifier(config, info)
  try {
    for (const [name, v] of classifier.params.variables) {
      const t = tensors.get(name)
      if (t === undefined || t.shape.join(',') !== v.shape.join(',')) {
        throw new CorruptCheckpointError(`classifier tensor ${name}: missing or of another shape`)
      }
      v.assign(tf.tensor(t.data, t.shape))
    }
    if (tensors.size !== classifier.params.variables.size) {
      const expected = classifier.params.variables.size
      throw new CorruptCheckpointError(`classifier file holds ${tensors.size} tensors, the config ${expected}`)
    }
  } catch (err) {
    classifier.dispose()
    throw err
  }
  return classifier
}

/** The committed weights of each dataset the repository ships a classifier for. */
export const CLASSIFIER_FILES: Record<string, string> = {
  mnist: 'mnist-mlp.safetensors',
  'fashion-mnist': 'fashion-mnist-mlp.safetensors'
}

/** src/eval/weights/ from both src/eval (tsx) and dist/eval (compiled): both sit two levels below the package. */
export function classifierPath (dataset: string): string {
  const file = CLASSIFIER_FILES[datasetFamily(dataset)]
  if (file === undefined) {
    const have = Object.keys(CLASSIFIER_FILES).join(', ')
    throw new ClassifierNotFoundError(`no classifier is committed for dataset "${dataset}" (have ${have})`)
  }
  return new URL(`../../src/eval/weights/${file}`, import.meta.url).pathname
}

/** 'mnist:test' -> 'mnist'. */
export function datasetFamily (spec: string): string {
  const colon = spec.indexOf(':')
  return colon < 0 ? spec : spec.slice(0, colon)
}

/** Loads a classifier file, or the committed one of a dataset (`mnist`, `fashion-mnist`). */
export async function loadClassifier (datasetOrPath: string): Promise<FeatureClassifier> {
  const path = datasetOrPath.endsWith('.safetensors') ? datasetOrPath : classifierPath(datasetOrPath)
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new ClassifierNotFoundError(`cannot read classifier ${path}: ${reason}`)
  }
  return decodeClassifier(bytes)
}
