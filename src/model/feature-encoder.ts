/**
 * The clustering encoder (DESIGN section 5): the network whose features decide which images
 * share a cluster, as DINOv2's do in the paper. A small MLP trained once, self-supervised
 * (SimCLR-style contrastive learning on augmented views, training/encoder-trainer.ts), so it
 * never sees a label; its weights ship with the package and run manifests pin them by CID.
 * It is a different network, trained separately, from the evaluation classifier (src/eval),
 * so the metrics never judge with the features that made the clusters.
 *
 *   x [N, H*W*C] in [-1, 1] -> (Linear ReLU) x hidden -> Linear = features [N, F]
 *   projection head (training only): features -> ReLU Linear(P) -> z, compared by cosine
 *
 * Clustering reads `encodeExact`: the same forward pass in float64 with a fixed summation
 * order and no transcendental function (ReLU, products, sums and one square root, all
 * correctly rounded in IEEE 754), so every machine computes bit-identical features and
 * therefore the same clusters and shard CIDs. The tfjs forward (`features`) trains it.
 */
import * as tf from '@tensorflow/tfjs'
import { InvalidArgumentError } from '../hddm-error.js'
import { linearParams, Params, type LinearParams } from './params.js'

export interface FeatureEncoderConfig {
  /** Flattened input size H*W*C. */
  inputSize: number
  /** Hidden widths of the backbone, each followed by ReLU. */
  hidden: number[]
  /** Width F of the features clustering uses. */
  featureDim: number
  /** Width P of the contrastive projection (training only). */
  projectionDim: number
}

export const DEFAULT_ENCODER_CONFIG: FeatureEncoderConfig = {
  inputSize: 784,
  hidden: [512, 256],
  featureDim: 64,
  projectionDim: 64
}

export class FeatureEncoder {
  readonly params: Params
  private readonly backbone: LinearParams[]
  private readonly head: LinearParams[]

  constructor (readonly config: FeatureEncoderConfig, seed = 1) {
    const widths = [config.inputSize, ...config.hidden, config.featureDim]
    if (!widths.every(w => Number.isSafeInteger(w) && w > 0) || !(config.projectionDim > 0)) {
      throw new InvalidArgumentError(`bad encoder config ${JSON.stringify(config)}`)
    }
    this.params = new Params(seed)
    this.backbone = widths.slice(1).map((w, i) => linearParams(this.params, `backbone.${i}`, widths[i], w))
    this.head = [
      linearParams(this.params, 'head.0', config.featureDim, config.featureDim),
      linearParams(this.params, 'head.1', config.featureDim, config.projectionDim)
    ]
  }

  /** x [N, inputSize] -> features [N, F] (not normalised). */
  features (x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      let h = x
      this.backbone.forEach(({ weight, bias }, i) => {
        h = tf.add(tf.matMul(h, weight), bias) as tf.Tensor2D
        if (i < this.backbone.length - 1) h = tf.relu(h)
      })
      return h
    })
  }

  /** features [N, F] -> projections [N, P] on the unit sphere (what the contrastive loss compares). */
  project (features: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [h0, h1] = this.head
      const h = tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(features, h0.weight), h0.bias)), h1.weight), h1.bias)
      return tf.div(h, tf.add(tf.norm(h, 'euclidean', 1, true), 1e-8)) as tf.Tensor2D
    })
  }

  trainableVariables (): tf.Variable[] {
    return [...this.params.variables.values()]
  }

  dispose (): void {
    this.params.dispose()
  }
}

/** The backbone's weights as plain arrays: what `encodeExact` reads. */
export interface EncoderWeights {
  config: FeatureEncoderConfig
  /** Per backbone layer: weight [in, out] row-major, bias [out]. */
  layers: Array<{ weight: Float32Array, bias: Float32Array }>
}

/** Reads the backbone of a live encoder (for tests and the training script). */
export function encoderWeights (encoder: FeatureEncoder): EncoderWeights {
  const layers = []
  for (let i = 0; i <= encoder.config.hidden.length; i++) {
    layers.push({
      weight: encoder.params.get(`backbone.${i}.weight`).dataSync() as Float32Array,
      bias: encoder.params.get(`backbone.${i}.bias`).dataSync() as Float32Array
    })
  }
  return { config: encoder.config, layers }
}

/**
 * L2-normalised features [N, F] of uint8 images (`pixels`, N * inputSize bytes), in float64
 * with a fixed loop order: bit-identical on every machine. Zero pixels (value -1 after scaling)
 * are folded into a per-layer constant so that sparse images cost what their ink costs.
 */
export function encodeExact (weights: EncoderWeights, pixels: Uint8Array, count: number): Float64Array {
  const { config, layers } = weights
  const inSize = config.inputSize
  if (pixels.length !== count * inSize) {
    throw new InvalidArgumentError(`${pixels.length} bytes are not ${count} images of ${inSize} values`)
  }
  const F = config.featureDim
  const first = layers[0]
  const width0 = first.bias.length
  // x = p / 127.5 - 1, so x W = (p / 127.5) W - colsum(W): precompute b - colsum(W).
  const base0 = new Float64Array(width0)
  for (let o = 0; o < width0; o++) base0[o] = first.bias[o]
  for (let i = 0; i < inSize; i++) for (let o = 0; o < width0; o++) base0[o] -= first.weight[i * width0 + o]
  const out = new Float64Array(count * F)
  const h = new Float64Array(width0)
  for (let n = 0; n < count; n++) {
    h.set(base0)
    const px = n * inSize
    for (let i = 0; i < inSize; i++) {
      const p = pixels[px + i]
      if (p === 0) continue
      const x = p / 127.5
      const row = i * width0
      for (let o = 0; o < width0; o++) h[o] += x * first.weight[row + o]
    }
    let act: Float64Array = h
    for (let l = 1; l < layers.length; l++) {
      for (let o = 0; o < act.length; o++) if (act[o] < 0) act[o] = 0
      act = denseExact(act, layers[l])
    }
    let norm = 0
    for (let f = 0; f < F; f++) norm += act[f] * act[f]
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0
    for (let f = 0; f < F; f++) out[n * F + f] = act[f] * scale
  }
  return out
}

function denseExact (x: Float64Array, layer: { weight: Float32Array, bias: Float32Array }): Float64Array {
  const width = layer.bias.length
  const y = Float64Array.from(layer.bias)
  for (let i = 0; i < x.length; i++) {
    const v = x[i]
    if (v === 0) continue
    const row = i * width
    for (let o = 0; o < width; o++) y[o] += v * layer.weight[row + o]
  }
  return y
}
