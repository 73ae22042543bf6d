/**
 * One AdamW update of one parameter on the webgpu backend, in place where that is safe: the
 * webgpu counterpart of ../adam-step.ts (same formula, same contract), three elementwise
 * dispatches (m, v, then p) instead of tfjs's dozen ops and their intermediate buffers.
 *
 * A program writes only its `result` binding, which it may also read, so each of p, m and v is
 * updated by its own dispatch reading the old value from `result`. That is done only while the
 * variable's buffer is its own alone: one reference, on the GPU, not imported from outside, and
 * no copy cached on the CPU (which a read would then serve stale). Otherwise the update goes to
 * a fresh buffer that is then assigned, so a tensor someone else holds never changes. Reads
 * queued before the update (a checkpoint's data()) copy the buffer in queue order, before it.
 */
import * as tf from '@tensorflow/tfjs'
import type { AdamStepHyper } from '../adam-step.js'
import { floats, program, type Uniform, type WebGpuBackend } from './kernels-program.js'

const WORKGROUP = 64

type Target = 'm' | 'v' | 'p'

// The new value of each target from the old one (`old`), the gradient g and, for p, the new m, v.
const UPDATE: Record<Target, string> = {
  m: 'uniforms.beta1 * old + (1.0 - uniforms.beta1) * g[index]',
  v: 'uniforms.beta2 * old + (1.0 - uniforms.beta2) * g[index] * g[index]',
  p: 'old * uniforms.decay - uniforms.stepSize * m[index] / (sqrt(v[index]) * uniforms.invSqrtBc2 + uniforms.epsilon)'
}
const INPUTS: Record<Target, string[]> = { m: ['g'], v: ['g'], p: ['m', 'v'] }
const UNIFORMS = 'beta1 : f32, beta2 : f32, decay : f32, stepSize : f32, invSqrtBc2 : f32, epsilon : f32,'

function updateProgram (target: Target, size: number, inPlace: boolean): ReturnType<typeof program> {
  return program({
    key: `adamw_${target}_${inPlace ? 'inplace' : 'copy'}`,
    inputs: inPlace ? INPUTS[target] : [...INPUTS[target], 'prev'],
    outputShape: [size],
    workgroup: WORKGROUP,
    workgroups: Math.ceil(size / WORKGROUP),
    size: true,
    uniforms: UNIFORMS,
    code: `
  fn main(index : i32) {
    if (index < uniforms.size) {
      let old = ${inPlace ? 'result[index]' : 'prev[index]'};
      result[index] = ${UPDATE[target]};
    }
  }`
  })
}

function hyperUniforms (h: AdamStepHyper): Uniform[] {
  return floats(
    h.beta1, h.beta2, 1 - h.learningRate * h.weightDecay, h.learningRate / h.biasCorrection1,
    1 / Math.sqrt(h.biasCorrection2), h.epsilon
  )
}

/** A GPUBuffer (the backend also keeps textures for pixel inputs). */
function isBuffer (resource: unknown): boolean {
  return typeof (resource as { mapAsync?: unknown } | null | undefined)?.mapAsync === 'function'
}

/**
 *   p *= 1 - lr wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)                          (torch.optim.AdamW)
 * Returns false, having changed nothing, when the current backend is not webgpu or a tensor is
 * not float32 of the parameter's size.
 */
export function adamStepWebGpu (
  param: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, h: AdamStepHyper
): boolean {
  if (tf.getBackend() !== 'webgpu') return false
  const backend = tf.backend() as unknown as WebGpuBackend
  const size = param.size
  if ([param, grad, m, v].some(t => t.dtype !== 'float32' || t.size !== size)) return false
  const uniforms = hyperUniforms(h)

  const update = (variable: tf.Variable, target: Target, inputs: tf.TensorInfo[]): tf.TensorInfo => {
    const data = backend.tensorMap.get(variable.dataId)
    const own = data !== undefined && data.refCount === 1 && data.values == null &&
      data.external !== true && isBuffer(data.resource)
    // Flat [size] views of the variable's data for the program's 1-D shapes.
    const self: tf.TensorInfo = { dataId: variable.dataId, shape: [size], dtype: 'float32' }
    if (own) return backend.runWebGPUProgram(updateProgram(target, size, true), inputs, 'float32', uniforms, self)
    return backend.runWebGPUProgram(updateProgram(target, size, false), [...inputs, self], 'float32', uniforms)
  }
  const flat = (t: tf.Tensor): tf.TensorInfo => ({ dataId: t.dataId, shape: [size], dtype: 'float32' })

  const g = flat(grad)
  const newM = update(m, 'm', [g])
  const newV = update(v, 'v', [g])
  const newP = update(param, 'p', [newM, newV])
  const results: Array<[tf.Variable, tf.TensorInfo]> = [[m, newM], [v, newV], [param, newP]]
  for (const [variable, result] of results) {
    if (result.dataId === variable.dataId) continue
    const updated = tf.engine().makeTensorFromTensorInfo({ ...result, shape: variable.shape })
    variable.assign(updated)
    updated.dispose()
  }
  return true
}
