/**
 * Samplers integrate a velocity field from noise (t = 1) to data (t = 0) in flow-matching
 * space. Every sampler has the same signature, k-diffusion style:
 *   (field, x, sigmas, { signal, onProgress }) -> x0
 * and never knows which objectives or experts produced the field.
 */
import type * as tf from '@tensorflow/tfjs'
import type { AbortOptions, ProgressEvent, ProgressOptions } from '../../progress.js'

/** v at flow state (x, t), with t shared by the batch. x [B, H, W, C] -> [B, H, W, C]. */
export type VelocityField = (x: tf.Tensor4D, t: number) => tf.Tensor4D

export type SampleStepEvent = ProgressEvent<'hddm:sample:step', { i: number, steps: number, sigma: number }>

export interface SampleOptions extends AbortOptions, ProgressOptions<SampleStepEvent> {}

export type Sampler = (
  field: VelocityField, x: tf.Tensor4D, sigmas: number[], options?: SampleOptions
) => Promise<tf.Tensor4D>

/** The flow-time grid: linspace(1, 0.001, N) then 0 (N + 1 values, N steps). */
export function flowSigmas (steps: number, start = 1, end = 0.001): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`)
  const linspace = (i: number): number => start + (end - start) * i / (steps - 1)
  const sigmas = steps === 1 ? [start] : Array.from({ length: steps }, (_, i) => linspace(i))
  return [...sigmas, 0]
}
