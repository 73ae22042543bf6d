/**
 * DDPM epsilon-prediction (Ho et al., 2020) on a schedule of schedule.ts (hddm's own experts: the
 * cosine schedule of Nichol & Dhariwal, 2021; imported DiT experts: DiT's linear schedule):
 *   x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s) eps,  s ~ U{0, ..., T-1},  target eps,
 *   network time input s. In flow-matching space it is a velocity field through the exact
 *   conversion of convert.ts.
 */
import * as tf from '@tensorflow/tfjs'
import { epsToVelocity, type EpsToVelocityOptions } from '../convert.js'
import { cosineSchedule, type Schedule } from '../schedule.js'
import type { Objective, Predictor, TrainingExample } from './objective.js'

export interface DdpmObjective extends Objective {
  readonly schedule: Schedule
}

export interface DdpmTrainingOptions {
  /**
   * Min-SNR-gamma loss weighting (Hang et al., 2023): each step's eps loss times
   * min(SNR_s, gamma) / SNR_s. Absent: the plain eps MSE of Ho et al.
   */
  minSnrGamma?: number
}

export function ddpm (
  schedule: Schedule = cosineSchedule(1000), conversion: EpsToVelocityOptions = {}, training: DdpmTrainingOptions = {}
): DdpmObjective {
  const gamma = training.minSnrGamma
  return {
    name: 'ddpm',
    schedule,
    trainingExample (x0, eps, u): TrainingExample {
      const steps = Float32Array.from(u, v => Math.min(Math.floor(v * schedule.T), schedule.T - 1))
      const signal = Float32Array.from(steps, s => Math.sqrt(schedule.alphasCumprod[s]))
      const noise = Float32Array.from(steps, s => Math.sqrt(1 - schedule.alphasCumprod[s]))
      return tf.tidy(() => {
        const a = tf.tensor4d(signal, [u.length, 1, 1, 1])
        const b = tf.tensor4d(noise, [u.length, 1, 1, 1])
        const input = tf.add(tf.mul(a, x0), tf.mul(b, eps)) as tf.Tensor4D
        const weight = gamma === undefined ? undefined : tf.tensor1d(Float32Array.from(steps, s => {
          const snr = schedule.alphasCumprod[s] / (1 - schedule.alphasCumprod[s])
          return Math.min(snr, gamma) / snr
        }))
        return { input, time: tf.tensor1d(steps), target: tf.clone(eps), ...(weight !== undefined ? { weight } : {}) }
      })
    },
    loss: (prediction, target, weight) => tf.tidy(() => weight === undefined
      ? tf.mean(tf.squaredDifference(prediction, target)) as tf.Scalar
      : tf.mean(tf.mul(tf.mean(tf.squaredDifference(prediction, target), [1, 2, 3]), weight)) as tf.Scalar),
    velocity: (predict: Predictor, x, t) => epsToVelocity(
      (xs, step) => predict(xs, tf.fill([xs.shape[0]], step) as tf.Tensor1D), x, t, schedule, conversion)
  }
}
