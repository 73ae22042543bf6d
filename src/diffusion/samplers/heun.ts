/**
 * Heun's second-order method (Karras et al., 2022, alg. 1): an Euler predictor, then the
 * average of the slopes at both ends; the last step to t = 0 stays Euler (v at t = 0 is
 * not needed and DDPM experts are ill-posed there).
 */
import * as tf from '@tensorflow/tfjs'
import { throwIfAborted } from '../../hddm-error.js'
import type { SampleOptions, VelocityField } from './sampler.js'

export async function sampleHeun (
  field: VelocityField, x: tf.Tensor4D, sigmas: number[], options: SampleOptions = {}
): Promise<tf.Tensor4D> {
  let current = tf.clone(x)
  for (let i = 0; i < sigmas.length - 1; i++) {
    throwIfAborted(options.signal)
    const dt = sigmas[i + 1] - sigmas[i]
    const next = tf.tidy(() => {
      const v = field(current, sigmas[i])
      const euler = tf.add(current, tf.mul(v, dt)) as tf.Tensor4D
      if (sigmas[i + 1] === 0) return euler
      const v2 = field(euler, sigmas[i + 1])
      return tf.add(current, tf.mul(tf.add(v, v2), dt / 2)) as tf.Tensor4D
    })
    current.dispose()
    current = next
    options.onProgress?.({ type: 'hddm:sample:step', detail: { i, steps: sigmas.length - 1, sigma: sigmas[i + 1] } })
    await new Promise(resolve => setImmediate(resolve))
  }
  return current
}
