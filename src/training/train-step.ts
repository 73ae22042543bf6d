/**
 * One optimisation step of an expert: noise a batch with the expert's own objective, regress
 * the objective's target, clip the global gradient norm, apply the optimizer. Everything random
 * comes from the caller (the time draws u and the noise seed), so a step is reproducible
 * from the trainer's saved state.
 */
import * as tf from '@tensorflow/tfjs'
import type { DiT } from '../model/dit.js'
import type { Objective } from '../diffusion/objectives/objective.js'

/** Anything that applies named gradients: tf.train.adam, or hddm's native Adam. */
export interface StepOptimizer {
  // Method syntax on purpose: a method's parameter is checked bivariantly, so both
  // tf.train.adam (typed for maps of variables) and hddm's Adam (maps of tensors) fit.
  applyGradients (grads: GradientMap): void
}

/** tfjs's own parameter type; gradients keyed by variable name are what every optimizer reads. */
type GradientMap = Parameters<tf.Optimizer['applyGradients']>[0]

export interface ExpertBatch {
  /** [B, H, W, C] in [-1, 1]. */
  images: Float32Array
  /** [B, L] prompt token ids (dropped prompts already replaced by the null prompt). */
  tokens: Int32Array
}

export interface StepRandomness {
  /** One uniform draw in [0, 1) per image: the objective turns it into a time. */
  u: Float32Array
  /** Seed of this step's Gaussian noise. */
  noiseSeed: number
}

export interface StepResult {
  loss: number
  /** Global gradient norm before clipping. */
  gradNorm: number
}

export function expertTrainStep (
  model: DiT, objective: Objective, optimizer: StepOptimizer, batch: ExpertBatch, random: StepRandomness, clipNorm = 1
): StepResult {
  const { imageSize, channels, promptTokens } = model.config
  const B = random.u.length
  const { value, grads } = tf.variableGrads(() => tf.tidy(() => {
    const x0 = tf.tensor4d(batch.images, [B, imageSize, imageSize, channels])
    const eps = tf.randomNormal([B, imageSize, imageSize, channels], 0, 1, 'float32', random.noiseSeed) as tf.Tensor4D
    const example = objective.trainingExample(x0, eps, random.u)
    const tokens = tf.tensor2d(batch.tokens, [B, promptTokens], 'int32')
    return objective.loss(model.apply(example.input, example.time, tokens), example.target, example.weight)
  }), model.trainableVariables())
  const gradNorm = clipGradients(grads, clipNorm)
  optimizer.applyGradients(grads as GradientMap)
  const loss = value.dataSync()[0]
  tf.dispose([value, ...Object.values(grads)])
  return { loss, gradNorm }
}

/** Scales gradients in place so that their global L2 norm is at most maxNorm; returns the norm before. */
export function clipGradients (grads: tf.NamedTensorMap, maxNorm: number): number {
  const norm = tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map(g => tf.sum(tf.square(g))))).dataSync()[0])
  if (Number.isFinite(maxNorm) && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6)
    for (const [name, g] of Object.entries(grads)) {
      grads[name] = tf.mul(g, scale)
      g.dispose()
    }
  }
  return norm
}
