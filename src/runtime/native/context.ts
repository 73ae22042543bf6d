/**
 * What every native kernel needs: the addon, the buffer pool, and typed access to the tfjs cpu
 * backend's storage (its internals, stable across tfjs 3.x/4.x; pinned to 4.22.0).
 */
import type * as tf from '@tensorflow/tfjs'
import type { NativeAddon } from './addon.js'
import type { BufferPool } from './pool.js'

export interface CpuTensorData {
  values: unknown
  dtype: string
  refCount: number
}

/** The parts of tfjs-backend-cpu's MathBackendCPU the kernels touch. */
export interface CpuBackend {
  data: { get: (id: tf.DataId) => CpuTensorData | undefined, has: (id: tf.DataId) => boolean }
  makeTensorInfo: (shape: number[], dtype: tf.DataType, values: Float32Array) => tf.TensorInfo
  disposeData: (id: tf.DataId, force?: boolean) => boolean
  readSync: (id: tf.DataId) => unknown
}

/** A kernel body: its result, or undefined to hand the call to tfjs's own kernel. */
export type NativeKernelFunc = (
  inputs: tf.NamedTensorInfoMap, backend: CpuBackend, attrs: tf.NamedAttrMap
) => tf.TensorInfo | tf.TensorInfo[] | undefined

export interface NativeInput {
  values: Float32Array
  shape: number[]
}

export class KernelContext {
  constructor (readonly addon: NativeAddon, readonly pool: BufferPool) {}

  /** The float32 backing store of `t`, or undefined when the native path cannot take it. */
  input (backend: CpuBackend, t: tf.TensorInfo | undefined): NativeInput | undefined {
    if (t === undefined || t.dtype !== 'float32') return undefined
    const values = backend.data.get(t.dataId)?.values
    return values instanceof Float32Array ? { values, shape: t.shape } : undefined
  }

  /** A new float32 output from the pool, registered with the backend. */
  output (backend: CpuBackend, shape: number[]): { info: tf.TensorInfo, values: Float32Array } {
    const values = this.pool.take(shape.reduce((a, b) => a * b, 1))
    return { info: backend.makeTensorInfo(shape, 'float32', values), values }
  }
}

export function sizeOf (shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}
