/**
 * Runtime: which tfjs backend computes, and the fused ops the model calls.
 *
 * - {@link initBackend} picks tfjs-node(-gpu) when installed, else `webgpu` on a hardware adapter
 *   (dawn.node with WGSL fused kernels), else `native` (tfjs's cpu backend with hddm's N-API +
 *   BLAS kernels), else multithreaded `wasm`, else plain `cpu`.
 * - `geluTanh`, `layerNormModulate`, `attention` run fused native kernels with their own
 *   gradients when the native backend is active, and composite tfjs ops elsewhere.
 * - {@link adamStepNative} is one fused in-place AdamW update on the native backend; optimizers
 *   (training/adam.ts) fall back to tfjs ops when it declines.
 */
export { BackendUnavailableError, WebGpuUnavailableError, WebGpuLimitError } from './errors.js'
export type { WebGpuFailure, WebGpuLimitName } from './errors.js'
export type { WebGpuAdapterInfo } from './webgpu/backend.js'
export { initBackend, disposeBackend, currentBackend, BACKEND_CHOICES } from './backend.js'
export type { BackendChoice, BackendName, BackendInfo, InitBackendOptions } from './backend.js'
export {
  geluTanh, layerNormModulate, attention, hasFusedKernel, GELU_TANH, LAYER_NORM_MODULATE, ATTENTION
} from './fused-ops.js'
export { adamStepNative, type AdamStepHyper } from './adam-step.js'
