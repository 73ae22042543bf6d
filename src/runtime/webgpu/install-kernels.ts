/**
 * Registers the WGSL fused kernels under tfjs's 'webgpu' backend, and takes them out again.
 *
 * The forward kernels carry the names the model's fused-op helpers look for (../fused-ops.ts),
 * so the model runs them as soon as they are registered. Their gradients are the native ones
 * (FUSED_GRADIENTS): tfjs keeps one gradient per kernel name for all backends, and those
 * gradients call the backward kernels by name on whatever backend runs, so the same names are
 * registered here with WGSL bodies. Gradients already registered (the native cpu kernels are
 * installed too) are left alone; those registered here are removed on uninstall unless native
 * kernels were installed meanwhile. (Uninstalling native kernels removes the gradients whoever
 * registered them: initBackend runs one backend's kernels at a time, so that does not arise.)
 */
import * as tf from '@tensorflow/tfjs'
import { ATTENTION, GELU_TANH, LAYER_NORM_MODULATE } from '../fused-ops.js'
import {
  ATTENTION_GRAD, FUSED_GRADIENTS, GELU_TANH_GRAD, LAYER_NORM_MODULATE_GRAD
} from '../native/kernels-fused.js'
import { attention, attentionGrad } from './kernels-attention.js'
import { geluTanh, geluTanhGrad } from './kernels-gelu.js'
import { layerNormModulate, layerNormModulateGrad } from './kernels-layer-norm.js'
import { activeNative } from '../native/install.js'
import type { WebGpuBackend, WebGpuKernelFunc } from './kernels-program.js'

const BACKEND = 'webgpu'

const KERNELS: Array<[string, WebGpuKernelFunc]> = [
  [GELU_TANH, geluTanh],
  [GELU_TANH_GRAD, geluTanhGrad],
  [LAYER_NORM_MODULATE, layerNormModulate],
  [LAYER_NORM_MODULATE_GRAD, layerNormModulateGrad],
  [ATTENTION, attention],
  [ATTENTION_GRAD, attentionGrad]
]

/** Registers the kernels (and missing gradients); returns a function that removes both. */
export function installWebGpuKernels (): () => void {
  const added: string[] = []
  for (const [kernelName, body] of KERNELS) {
    if (tf.getKernel(kernelName, BACKEND) !== undefined) continue
    const kernelFunc: tf.KernelFunc = ({ inputs, backend, attrs }) =>
      body(inputs, backend as unknown as WebGpuBackend, attrs ?? {})
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc })
    added.push(kernelName)
  }
  const gradients = FUSED_GRADIENTS.filter(grad => tf.getGradient(grad.kernelName) === undefined)
  for (const grad of gradients) tf.registerGradient(grad)

  return () => {
    for (const kernelName of added) tf.unregisterKernel(kernelName, BACKEND)
    // Native kernels installed since then use the same gradients (and remove them themselves).
    if (activeNative() !== undefined) return
    for (const grad of gradients) {
      if (tf.getGradient(grad.kernelName) !== undefined) tf.unregisterGradient(grad.kernelName)
    }
  }
}
