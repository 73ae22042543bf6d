/**
 * Where initBackend installs hddm's WGSL fused kernels (GELU, LayerNorm+modulate, attention)
 * once the webgpu backend is set. Until install-kernels.ts lands, the model's fused-op helpers
 * take their composite tfjs paths on webgpu (same values, more kernels and memory).
 */

/** Registers the fused kernels on the webgpu backend; returns their removal. */
export function installWebGpuKernels (): () => void {
  return () => {}
}
