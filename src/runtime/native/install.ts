/**
 * Puts the native kernels under tfjs's cpu backend, and takes them out again.
 *
 * Overrides replace the top-level kernels the engine dispatches (the cpu backend's composite
 * kernels call their siblings' functions directly, so only the registry entry matters). Every
 * other cpu kernel is wrapped so that its inputs escape the buffer pool (see pool.ts), and the
 * backend's readSync/disposeData are wrapped to mark reads and recycle disposed buffers.
 *
 * Debugging switches: HDDM_NATIVE_DISABLE is a comma list of kernel names to leave to tfjs
 * (e.g. "Softmax,Transpose"), plus "pool" (never recycle buffers) and "fused" (no fused-op
 * kernels); HDDM_NATIVE_POOL_MB caps idle pool memory (default 2048).
 */
import * as tf from '@tensorflow/tfjs'
import type { NativeAddon } from './addon.js'
import { KernelContext, type CpuBackend, type NativeKernelFunc } from './context.js'
import * as fused from './kernels-fused.js'
import * as layout from './kernels-layout.js'
import * as math from './kernels-math.js'
import { BufferPool, type PoolStats } from './pool.js'
import { ATTENTION, GELU_TANH, LAYER_NORM_MODULATE } from '../fused-ops.js'
import { ATTENTION_GRAD, GELU_TANH_GRAD, LAYER_NORM_MODULATE_GRAD, retainFusedGradients } from '../fused-gradients.js'

/** cpu kernels that never return a view of an input under a new dataId (they reuse the dataId). */
const NON_ALIASING = new Set(['Reshape', 'Identity', 'ExpandDims', 'Cast'])

export interface ActiveNative {
  addon: NativeAddon
  pool: BufferPool
  backend: CpuBackend
}

let active: ActiveNative | undefined

/** The installed native kernels, for code that works on their buffers directly (Adam). */
export function activeNative (): ActiveNative | undefined {
  return active
}

/** Buffer pool counters of the installed kernels (hits, misses, recycled, escaped). */
export function nativePoolStats (): PoolStats | undefined {
  return active?.pool.snapshot()
}

function overrides (ctx: KernelContext): Map<string, NativeKernelFunc> {
  const map = new Map<string, NativeKernelFunc>([
    ['BatchMatMul', math.batchMatMul(ctx)],
    ['_FusedMatMul', math.fusedMatMul(ctx)],
    ['Transpose', layout.transpose(ctx)],
    ['Softmax', layout.softmax(ctx)],
    ['SplitV', layout.splitV(ctx)],
    ['Concat', layout.concat(ctx)]
  ])
  for (const name of math.BINARY_KERNELS) map.set(name, math.binary(ctx, name))
  for (const name of math.UNARY_KERNELS) map.set(name, math.unary(ctx, name))
  for (const name of math.REDUCE_KERNELS) map.set(name, math.reduce(ctx, name))
  return map
}

function fusedKernels (ctx: KernelContext): Map<string, NativeKernelFunc> {
  return new Map([
    [GELU_TANH, fused.geluTanh(ctx)],
    [GELU_TANH_GRAD, fused.geluTanhGrad(ctx)],
    [LAYER_NORM_MODULATE, fused.layerNormModulate(ctx)],
    [LAYER_NORM_MODULATE_GRAD, fused.layerNormModulateGrad(ctx)],
    [ATTENTION, fused.attention(ctx)],
    [ATTENTION_GRAD, fused.attentionGrad(ctx)]
  ])
}

function disabledNames (): Set<string> {
  return new Set((process.env.HDDM_NATIVE_DISABLE ?? '').split(',').map(s => s.trim()).filter(s => s !== ''))
}

type KernelArgs = Parameters<tf.KernelFunc>[0]

/** A native kernel body called with tfjs's kernel arguments (undefined: tfjs's own kernel runs). */
function runNative (body: NativeKernelFunc, args: KernelArgs): ReturnType<NativeKernelFunc> {
  return body(args.inputs, args.backend as CpuBackend, args.attrs ?? {})
}

/**
 * Registers the native kernels on the (already initialised) cpu backend; returns a function
 * that restores tfjs's own kernels and the backend's methods.
 */
export function installNativeKernels (addon: NativeAddon): () => void {
  if (active !== undefined) throw new Error('native kernels are already installed')
  const backend = tf.findBackend('cpu') as unknown as CpuBackend | null
  if (backend === null) throw new Error('the tfjs cpu backend must be initialised first')
  const disabled = disabledNames()
  const poolMb = Number(process.env.HDDM_NATIVE_POOL_MB ?? 2048)
  const pool = new BufferPool({ recycle: !disabled.has('pool'), maxIdleBytes: poolMb * 2 ** 20 })
  const ctx = new KernelContext(addon, pool)
  const native = overrides(ctx)

  const escapeInputs = (args: KernelArgs): void => {
    for (const t of Object.values(args.inputs)) {
      if (t !== undefined) pool.escape(backend.data.get(t.dataId)?.values)
    }
  }
  const replaced: tf.KernelConfig[] = []
  for (const config of tf.getKernelsForBackend('cpu')) {
    const body = disabled.has(config.kernelName) ? undefined : native.get(config.kernelName)
    if (body === undefined && NON_ALIASING.has(config.kernelName)) continue
    const original = config.kernelFunc
    const kernelFunc: tf.KernelFunc = body === undefined
      ? (args) => { escapeInputs(args); return original(args) }
      : (args) => runNative(body, args) ?? (escapeInputs(args), original(args))
    replaced.push(config)
    tf.unregisterKernel(config.kernelName, 'cpu')
    tf.registerKernel({ ...config, kernelFunc })
  }

  const added = disabled.has('fused') ? new Map<string, NativeKernelFunc>() : fusedKernels(ctx)
  for (const [kernelName, body] of added) {
    tf.registerKernel({ kernelName, backendName: 'cpu', kernelFunc: (args) => runNative(body, args) as tf.TensorInfo })
  }
  const releaseGradients = added.size > 0 ? retainFusedGradients() : undefined

  // Reads hand out the backing array itself; disposal of our buffers returns them to the pool.
  const { readSync, disposeData } = backend
  backend.readSync = (dataId) => {
    pool.escape(backend.data.get(dataId)?.values)
    return readSync.call(backend, dataId)
  }
  backend.disposeData = (dataId, force) => {
    const values = backend.data.get(dataId)?.values
    const released = disposeData.call(backend, dataId, force)
    if (values !== undefined && !backend.data.has(dataId)) pool.release(values)
    return released
  }
  active = { addon, pool, backend }

  return () => {
    for (const config of replaced) {
      tf.unregisterKernel(config.kernelName, 'cpu')
      tf.registerKernel(config)
    }
    for (const kernelName of added.keys()) tf.unregisterKernel(kernelName, 'cpu')
    releaseGradients?.()
    backend.readSync = readSync
    backend.disposeData = disposeData
    pool.clear()
    active = undefined
  }
}
