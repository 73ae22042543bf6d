/**
 * DDIM with eta = 0 (Song et al., 2021, eq. 12), the native sampler of a DDPM eps-expert,
 * on a descending list of (fractional) steps; the last step lands on the clean estimate:
 *   1. x0h = (x_s - sqrt(1 - abar_s) epsh) / sqrt(abar_s)
 *   2. x_s' = sqrt(abar_s') x0h + sqrt(1 - abar_s') epsh      (abar = 1 after the last step)
 */
import * as tf from '@tensorflow/tfjs'
import { throwIfAborted } from '../../hddm-error.js'
import type { EpsModel } from '../convert.js'
import type { Schedule } from '../schedule.js'
import type { SampleOptions } from './sampler.js'

export async function sampleDdim (
  epsModel: EpsModel, x: tf.Tensor4D, steps: number[], schedule: Schedule, options: SampleOptions = {}
): Promise<tf.Tensor4D> {
  let current = tf.clone(x)
  for (let i = 0; i < steps.length; i++) {
    throwIfAborted(options.signal)
    const abar = schedule.abarAt(steps[i])
    const abarNext = i + 1 < steps.length ? schedule.abarAt(steps[i + 1]) : 1
    const next = tf.tidy(() => {
      const epsHat = epsModel(current, steps[i])
      const x0Hat = tf.div(tf.sub(current, tf.mul(epsHat, Math.sqrt(1 - abar))), Math.sqrt(abar))
      return tf.add(tf.mul(x0Hat, Math.sqrt(abarNext)), tf.mul(epsHat, Math.sqrt(1 - abarNext))) as tf.Tensor4D
    })
    current.dispose()
    current = next
    options.onProgress?.({ type: 'hddm:sample:step', detail: { i, steps: steps.length, sigma: steps[i] } })
    await new Promise(resolve => setImmediate(resolve))
  }
  return current
}
