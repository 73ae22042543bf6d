/**
 * Classifier-free guidance (Ho & Salimans, 2022), applied per expert on its own prediction:
 *   pred = pred(null) + w (pred(prompt) - pred(null))
 * For an eps-expert this is guidance on eps, for a velocity expert on v; since the eps -> v
 * conversion is affine in eps (away from its clamp), guiding before converting equals
 * guiding the converted velocities.
 */
import * as tf from '@tensorflow/tfjs'
import type { Predictor } from './objectives/objective.js'

/** A text-conditioned network: x [B, H, W, C], time [B], tokens [B, L] -> [B, H, W, C]. */
export type ConditionalNetwork = (x: tf.Tensor4D, time: tf.Tensor1D, tokens: tf.Tensor2D) => tf.Tensor4D

/** Binds a network to prompts, with guidance scale w (w = 1: no guidance, one evaluation). */
export function guidedPredictor (
  network: ConditionalNetwork, tokens: tf.Tensor2D, nullTokens: tf.Tensor2D, scale: number
): Predictor {
  if (scale === 1) return (x, time) => network(x, time, tokens)
  return (x, time) => tf.tidy(() => {
    const B = x.shape[0]
    // One batched evaluation of both branches: [cond; uncond].
    const both = network(tf.concat([x, x]), tf.concat([time, time]), tf.concat([tokens, nullTokens]))
    const [cond, uncond] = tf.split(both, [B, B], 0)
    return tf.add(uncond, tf.mul(tf.sub(cond, uncond), scale)) as tf.Tensor4D
  })
}
