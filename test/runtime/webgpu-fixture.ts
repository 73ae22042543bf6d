/**
 * The webgpu backend for the WGSL kernel tests, with hddm's fused kernels installed, and plain
 * cpu for the composite references. A missing prerequisite (the `webgpu` package, the Vulkan
 * loader, Mesa >= 25's lavapipe) fails the first test with WebGpuUnavailableError naming it.
 */
import os from 'node:os'
import path from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { loadWebGpu, unloadWebGpu } from '../../src/runtime/webgpu/backend.js'
import { installWebGpuKernels } from '../../src/runtime/webgpu/install-kernels.js'

let uninstall: (() => void) | undefined

/** Makes webgpu current (the software adapter accepted) with the fused kernels registered. */
export async function useWebGpu (): Promise<void> {
  // Mesa reads these when dawn loads the driver: compiled shaders persist between test files
  // (the first compilation of a kernel takes seconds on lavapipe), and no XDG warning.
  process.env.MESA_SHADER_CACHE_DIR ??= path.resolve('node_modules/.cache/mesa')
  process.env.XDG_RUNTIME_DIR ??= os.tmpdir()
  await loadWebGpu({ allowFallback: true })
  uninstall ??= installWebGpuKernels()
}

export async function useCpu (): Promise<void> {
  await tf.setBackend('cpu')
}

/** Removes the kernels and the backend, so that the process can exit. */
export async function releaseWebGpu (): Promise<void> {
  uninstall?.()
  uninstall = undefined
  unloadWebGpu()
  await tf.setBackend('cpu')
}

/** Runs `fn` on the current backend and reads its outputs (asynchronously, as GPUs prefer). */
export async function read (fn: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  const out = tf.tidy(fn)
  const list = Array.isArray(out) ? out : [out]
  const arrays = await Promise.all(list.map(async t => Float32Array.from(await t.data())))
  tf.dispose(list)
  return arrays
}
