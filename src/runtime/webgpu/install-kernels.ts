/**
 * Registers the WGSL fused kernels under tfjs's 'webgpu' backend, and takes them out again.
 *
 * The forward kernels carry the names the model's fused-op helpers look for (../fused-ops.ts),
 * so the model runs them as soon as they are registered. Their gradients are shared with the
 * native kernels (../fused-gradients.ts) and call the backward kernels by name, so the same
 * names are registered here with WGSL bodies.
 */
import * as tf from '@tensorflow/tfjs'
import { ATTENTION, GELU_TANH, LAYER_NORM_MODULATE } from '../fused-ops.js'
import { ATTENTION_GRAD, GELU_TANH_GRAD, LAYER_NORM_MODULATE_GRAD, retainFusedGradients } from '../fused-gradients.js'
import { attention, attentionGrad } from './kernels-attention.js'
import { geluTanh, geluTanhGrad } from './kernels-gelu.js'
import { layerNormModulate, layerNormModulateGrad } from './kernels-layer-norm.js'
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

/** Registers the kernels and retains their gradients; returns a function that removes both. */
export function installWebGpuKernels (): () => void {
  const added: string[] = []
  for (const [kernelName, body] of KERNELS) {
    if (tf.getKernel(kernelName, BACKEND) !== undefined) continue
    const kernelFunc: tf.KernelFunc = ({ inputs, backend, attrs }) =>
      body(inputs, backend as unknown as WebGpuBackend, attrs ?? {})
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc })
    added.push(kernelName)
  }
  const releaseGradients = retainFusedGradients()

  return () => {
    for (const kernelName of added) tf.unregisterKernel(kernelName, BACKEND)
    releaseGradients()
  }
}
