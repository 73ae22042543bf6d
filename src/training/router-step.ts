/**
 * One optimisation step of the router: flow-matching noising of clean images at caller-drawn
 * times, softmax cross-entropy of the router's logits against each image's cluster, global-norm
 * clipping, the optimizer update. As for experts, all randomness comes from the caller.
 */
import * as tf from '@tensorflow/tfjs'
import type { Router } from '../model/router.js'
import { flowNoised } from '../diffusion/objectives/flow.js'
import { clipGradients, type StepOptimizer, type StepResult } from './train-step.js'

export interface RouterBatch {
  /** [B, H, W, C] in [-1, 1]. */
  images: Float32Array
  /** [B] cluster of each image. */
  clusters: Int32Array
  /** [B, L] prompt tokens (dropped rows are the null prompt); prompt routers only. */
  tokens?: Int32Array
}

export interface RouterStepRandomness {
  /** Flow time t in [0, 1) per image (t = 1 is pure noise). */
  t: Float32Array
  noiseSeed: number
}

export function routerTrainStep (
  router: Router, optimizer: StepOptimizer, batch: RouterBatch, random: RouterStepRandomness, clipNorm = 1
): StepResult {
  const { imageSize, channels, numExperts } = router.config
  const B = random.t.length
  const { value, grads } = tf.variableGrads(() => tf.tidy(() => {
    const x0 = tf.tensor4d(batch.images, [B, imageSize, imageSize, channels])
    const tokens = batch.tokens !== undefined
      ? tf.tensor2d(batch.tokens, [B, batch.tokens.length / B], 'int32')
      : undefined
    const logits = router.logits(flowNoised(x0, random.t, random.noiseSeed), tf.tensor1d(random.t), tokens)
    const targets = tf.oneHot(tf.tensor1d(batch.clusters, 'int32'), numExperts)
    return tf.losses.softmaxCrossEntropy(targets, logits) as tf.Scalar
  }), router.trainableVariables())
  const gradNorm = clipGradients(grads, clipNorm)
  optimizer.applyGradients(grads)
  const loss = value.dataSync()[0]
  tf.dispose([value, ...Object.values(grads)])
  return { loss, gradNorm }
}
