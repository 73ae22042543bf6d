/**
 * Exact conversion of a DDPM eps-prediction expert into the flow-matching velocity space
 * (DESIGN section 4; derivation in docs/MODEL.md).
 *
 * FM state x_t = (1-t) x0 + t eps. With n = sqrt((1-t)^2 + t^2), x_t / n = a x0 + b eps where
 * a = (1-t)/n, b = t/n and a^2 + b^2 = 1: exactly a DDPM state of abar = a^2. So
 *   1. abar = (1-t)^2 / ((1-t)^2 + t^2)       the SNR of flow time t
 *   2. s*   = the (fractional) DDPM step with abar_s* = abar
 *   3. epsh = eps_theta((a+b) x_t, s*)        since a + b = 1/n, the input rescale
 *   4. x0h  = (x_t - t epsh) / max(1-t, 0.01), clamped to [-20, 20]
 *   5. v    = epsh - x0h
 * Steps 3-4 carry the two stabilisers for t -> 1, where x0 is not identifiable from x_t.
 */
import * as tf from '@tensorflow/tfjs'
import type { Schedule } from './schedule.js'

/** An eps-prediction network at a (fractional) DDPM step, the same step for the whole batch. */
export type EpsModel = (x: tf.Tensor4D, step: number) => tf.Tensor4D

/** How a flow time maps to a DDPM step: the exact SNR match, or the paper's naive round(999 t). */
export type TimeMap = 'snr' | 'naive'

export interface EpsToVelocityOptions {
  timeMap?: TimeMap
  /** Rescale the input by (a+b); off only to show what skipping it costs. */
  rescale?: boolean
  /** |x0h| bound (default X0_CLAMP); the data range when it is known (1 for images in [-1, 1]). */
  x0Clamp?: number
}

export const X0_DENOMINATOR_FLOOR = 0.01
export const X0_CLAMP = 20

/** abar of the DDPM state with the same signal-to-noise ratio as flow time t. */
export function abarFromFlowTime (t: number): number {
  const signal = (1 - t) ** 2
  return signal / (signal + t * t)
}

/** The fractional DDPM step whose abar matches flow time t (clamped to [0, T-1]). */
export function snrMatchedStep (schedule: Schedule, t: number): number {
  return schedule.stepForAbar(abarFromFlowTime(t))
}

/** The paper's naive time map: round(999 t), ignoring the schedule. */
export function naiveStep (t: number): number {
  return Math.round(999 * t)
}

/** (a + b) for flow time t: the factor that turns x_t into the matching DDPM state. */
export function inputRescale (t: number): number {
  const abar = abarFromFlowTime(t)
  return Math.sqrt(abar) + Math.sqrt(1 - abar)
}

/** Velocity from an eps-model at flow state (x, t). x [B, H, W, C] -> v [B, H, W, C]. */
export function epsToVelocity (
  epsModel: EpsModel, x: tf.Tensor4D, t: number, schedule: Schedule, options: EpsToVelocityOptions = {}
): tf.Tensor4D {
  const step = (options.timeMap ?? 'snr') === 'snr' ? snrMatchedStep(schedule, t) : naiveStep(t)
  const scale = (options.rescale ?? true) ? inputRescale(t) : 1
  const clamp = options.x0Clamp ?? X0_CLAMP
  return tf.tidy(() => {
    const epsHat = epsModel(tf.mul(x, scale) as tf.Tensor4D, step)
    const denominator = Math.max(1 - t, X0_DENOMINATOR_FLOOR)
    const x0Hat = tf.clipByValue(tf.div(tf.sub(x, tf.mul(epsHat, t)), denominator), -clamp, clamp)
    return tf.sub(epsHat, x0Hat) as tf.Tensor4D
  })
}

/** eps = x_t + (1 - t) v: the inverse map, for DDPM-space samplers. */
export function velocityToEps (v: tf.Tensor, x: tf.Tensor, t: number): tf.Tensor {
  return tf.tidy(() => tf.add(x, tf.mul(v, 1 - t)))
}

/** x0 = x_t - t v: the clean-image estimate of a velocity. */
export function velocityToX0 (v: tf.Tensor, x: tf.Tensor, t: number): tf.Tensor {
  return tf.tidy(() => tf.sub(x, tf.mul(v, t)))
}
