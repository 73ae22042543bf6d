/**
 * Euler's method on the probability-flow ODE dx/dt = v(x, t) (Karras et al., 2022, alg. 1
 * without churn): x_{i+1} = x_i + (sigma_{i+1} - sigma_i) v(x_i, sigma_i).
 */
import * as tf from '@tensorflow/tfjs'
import { throwIfAborted } from '../../hddm-error.js'
import type { SampleOptions, VelocityField } from './sampler.js'

export async function sampleEuler (
  field: VelocityField, x: tf.Tensor4D, sigmas: number[], options: SampleOptions = {}
): Promise<tf.Tensor4D> {
  let current = tf.clone(x)
  for (let i = 0; i < sigmas.length - 1; i++) {
    throwIfAborted(options.signal)
    const dt = sigmas[i + 1] - sigmas[i]
    const next = tf.tidy(() => tf.add(current, tf.mul(field(current, sigmas[i]), dt)) as tf.Tensor4D)
    current.dispose()
    current = next
    options.onProgress?.({ type: 'hddm:sample:step', detail: { i, steps: sigmas.length - 1, sigma: sigmas[i + 1] } })
    // Yield so that a caller's event loop (network, progress bar, abort) keeps running.
    await new Promise(resolve => setImmediate(resolve))
  }
  return current
}
