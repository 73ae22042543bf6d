/**
 * One interface for both training objectives. An objective knows how to noise clean images,
 * what its network regresses, what time its network reads, and how to turn its network into
 * a velocity field in flow-matching space, the one space in which experts are mixed.
 */
import type * as tf from '@tensorflow/tfjs'

export type ObjectiveName = 'ddpm' | 'fm'

/** A network bound to its conditioning: x [B, H, W, C], time [B] in its own units -> [B, H, W, C]. */
export type Predictor = (x: tf.Tensor4D, time: tf.Tensor1D) => tf.Tensor4D

export interface TrainingExample {
  /** The noisy network input [B, H, W, C]. */
  input: tf.Tensor4D
  /** The network's time input [B]: 1000 t for flow matching, the step s for DDPM. */
  time: tf.Tensor1D
  /** The regression target [B, H, W, C]: v = eps - x0 for flow matching, eps for DDPM. */
  target: tf.Tensor4D
  /** Per-image loss weights [B] (absent: 1), for objectives that weight time steps. */
  weight?: tf.Tensor1D
}

export interface Objective {
  readonly name: ObjectiveName
  /**
   * A training example from clean images x0, unit Gaussian noise eps (same shape) and one
   * uniform draw u in [0, 1) per image, which picks the time (t = u, or s = floor(u T)).
   */
  trainingExample: (x0: tf.Tensor4D, eps: tf.Tensor4D, u: Float32Array) => TrainingExample
  /** Mean squared error between prediction and target, per image times `weight` when given. */
  loss: (prediction: tf.Tensor4D, target: tf.Tensor4D, weight?: tf.Tensor1D) => tf.Scalar
  /** The velocity v at flow state (x, t), t in [0, 1] with t = 1 pure noise. */
  velocity: (predict: Predictor, x: tf.Tensor4D, t: number) => tf.Tensor4D
}
