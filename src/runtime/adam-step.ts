/**
 * One AdamW update of one parameter, fused and in place on the native backend. Any optimizer
 * can call it per variable and fall back to its own tfjs ops when it returns false.
 *
 * A buffer (parameter or moment) is written in place only while it is ours alone: allocated by
 * the native kernels, never read by user code (dataSync hands out the array itself), one
 * reference. Otherwise the update goes to a fresh buffer that is then assigned to the variable,
 * so a tensor or array someone else holds (a checkpoint being written, a clone) never changes.
 */
import * as tf from '@tensorflow/tfjs'
import { activeNative } from './native/install.js'

export interface AdamStepHyper {
  learningRate: number
  beta1: number
  beta2: number
  epsilon: number
  weightDecay: number
  /** 1 - beta1^step and 1 - beta2^step for this update (step counted from 1). */
  biasCorrection1: number
  biasCorrection2: number
}

/**
 *   p *= 1 - lr wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)                          (torch.optim.AdamW)
 * Returns false, having changed nothing, when the native kernels are not active on the current
 * backend or a tensor is not a float32 array of the parameter's size.
 */
export function adamStepNative (
  param: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, h: AdamStepHyper
): boolean {
  const native = tf.getBackend() === 'cpu' ? activeNative() : undefined
  if (native === undefined) return false
  const { backend, pool, addon } = native
  const size = param.size
  const g = backend.data.get(grad.dataId)?.values
  if (!(g instanceof Float32Array) || g.length !== size) return false
  const targets = [param, m, v].map(variable => ({ variable, data: backend.data.get(variable.dataId) }))
  if (targets.some(t => !(t.data?.values instanceof Float32Array) || t.data.values.length !== size)) return false

  const buffers = targets.map(({ data }) => {
    const values = data?.values as Float32Array
    if (pool.isOwned(values) && data?.refCount === 1) return { values, fresh: false }
    const copy = pool.take(size)
    copy.set(values)
    return { values: copy, fresh: true }
  })
  const [p, mm, vv] = buffers.map(b => b.values)
  const { learningRate, beta1, beta2, epsilon, biasCorrection1, biasCorrection2, weightDecay } = h
  addon.adam(p, g, mm, vv, learningRate, beta1, beta2, epsilon, biasCorrection1, biasCorrection2, weightDecay)
  buffers.forEach(({ values, fresh }, i) => {
    if (!fresh) return
    const variable = targets[i].variable
    const updated = tf.engine().makeTensorFromTensorInfo(backend.makeTensorInfo(variable.shape, 'float32', values))
    variable.assign(updated)
    updated.dispose()
  })
  return true
}
