/**
 * The gradients of the fused ops (../fused-ops.ts). tfjs keeps one gradient per kernel name for
 * every backend, and these call the backward kernels by name ('HddmGeluTanhGrad', ...) on
 * whichever backend runs, so each backend's fused kernels (native cpu, WGSL) share them. They
 * stay registered while any backend's fused kernels are installed: each installer retains
 * them and releases them on uninstall, and the last release unregisters them.
 *
 * A backward kernel with several outputs runs eagerly inside gradFunc, not in the per-input
 * thunks: tfjs tidies each thunk separately and would dispose the sibling outputs.
 */
import * as tf from '@tensorflow/tfjs'
import { ATTENTION, GELU_TANH, LAYER_NORM_MODULATE } from './fused-ops.js'

export const GELU_TANH_GRAD = `${GELU_TANH}Grad`
export const LAYER_NORM_MODULATE_GRAD = `${LAYER_NORM_MODULATE}Grad`
export const ATTENTION_GRAD = `${ATTENTION}Grad`

/** Registered globally; used only where the fused kernels run. */
const FUSED_GRADIENTS: tf.GradConfig[] = [
  {
    kernelName: GELU_TANH,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved
      return { x: () => tf.engine().runKernel(GELU_TANH_GRAD, { x, dy: dy as tf.Tensor }) as tf.Tensor }
    }
  },
  {
    kernelName: LAYER_NORM_MODULATE,
    inputsToSave: ['x', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [x, scale] = saved
      const grads = tf.engine().runKernel(LAYER_NORM_MODULATE_GRAD, { dy: dy as tf.Tensor, x, scale }, attrs)
      const [dx, dshift, dscale] = grads as tf.Tensor[]
      return { x: () => dx, shift: () => dshift, scale: () => dscale }
    }
  },
  {
    kernelName: ATTENTION,
    inputsToSave: ['q', 'k', 'v'],
    gradFunc: (dy, saved, attrs) => {
      const [q, k, v] = saved
      const [dq, dk, dv] = tf.engine().runKernel(ATTENTION_GRAD, { dy: dy as tf.Tensor, q, k, v }, attrs) as tf.Tensor[]
      return { q: () => dq, k: () => dk, v: () => dv }
    }
  }
]

let holders = 0

/** Registers the gradients if no installer holds them yet; the returned release unregisters them after the last. */
export function retainFusedGradients (): () => void {
  if (holders++ === 0) for (const grad of FUSED_GRADIENTS) tf.registerGradient(grad)
  let released = false
  return () => {
    if (released) return
    released = true
    if (--holders === 0) for (const grad of FUSED_GRADIENTS) tf.unregisterGradient(grad.kernelName)
  }
}

/** Whether the fused ops' gradients are registered now (tests). */
export function fusedGradientsRegistered (): boolean {
  return FUSED_GRADIENTS.every((grad) => tf.getGradient(grad.kernelName) !== undefined)
}
