/**
 * Flow matching / rectified flow (Lipman et al., 2023; Liu et al., 2023):
 *   x_t = (1 - t) x0 + t eps,  t ~ U(0, 1),  t = 1 is pure noise,
 *   target v = d x_t / d t = eps - x0,  network time input 1000 t.
 */
import * as tf from '@tensorflow/tfjs'
import type { Objective, Predictor, TrainingExample } from './objective.js'

export const FLOW_TIME_SCALE = 1000

export interface FlowMatchingOptions {
  /**
   * The network's time input for flow time t (default 1000 t). An expert initialised from a
   * DDPM checkpoint keeps reading DDPM steps, e.g. the SNR-matched step of t (training/ddpm-to-fm.ts).
   */
  timeInput?: (t: number) => number
}

export function flowMatching (options: FlowMatchingOptions = {}): Objective {
  const { timeInput } = options
  const networkTime = (t: tf.Tensor1D, u: ArrayLike<number>): tf.Tensor1D => timeInput === undefined
    ? tf.mul(t, FLOW_TIME_SCALE) as tf.Tensor1D
    : tf.tensor1d(Float32Array.from(u, timeInput))
  return {
    name: 'fm',
    trainingExample (x0, eps, u): TrainingExample {
      return tf.tidy(() => {
        const t = tf.tensor1d(u)                                          // [B]
        const tb = tf.reshape(t, [-1, 1, 1, 1])                           // [B, 1, 1, 1]
        const input = tf.add(tf.mul(tf.sub(1, tb), x0), tf.mul(tb, eps)) as tf.Tensor4D
        return { input, time: networkTime(t, u), target: tf.sub(eps, x0) as tf.Tensor4D }
      })
    },
    loss: (prediction, target) => tf.tidy(() => tf.mean(tf.squaredDifference(prediction, target)) as tf.Scalar),
    velocity: (predict: Predictor, x, t) => tf.tidy(() =>
      predict(x, tf.fill([x.shape[0]], timeInput === undefined ? t * FLOW_TIME_SCALE : timeInput(t)) as tf.Tensor1D))
  }
}

/** x_t = (1 - t) x0 + t eps: flow states with seeded noise, for the router's training and scoring. */
export function flowNoised (x0: tf.Tensor4D, t: Float32Array, noiseSeed: number): tf.Tensor4D {
  return tf.tidy(() => {
    const eps = tf.randomNormal(x0.shape, 0, 1, 'float32', noiseSeed)
    const tb = tf.tensor4d(t, [t.length, 1, 1, 1])
    return tf.add(tf.mul(tf.sub(1, tb), x0), tf.mul(tb, eps)) as tf.Tensor4D
  })
}
