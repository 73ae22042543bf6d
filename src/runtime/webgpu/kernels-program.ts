/**
 * What the WGSL fused kernels share: the parts of tfjs-backend-webgpu they touch (pinned to
 * 4.22.0), a builder for its WebGPUProgram objects, and input checks.
 *
 * tfjs wraps each program's `getUserCode()` in a shader that declares the output as
 * `result: array<f32>` (read_write, binding 0), each input under its variable name (read only),
 * and a `uniforms` struct holding the shapes, `size` when asked, then the program's own fields.
 * The code defines `fn main(index : i32)`, called once per invocation with the flat global index.
 * Every program here indexes the flat buffers itself, so only `result`, the inputs, `uniforms`,
 * `localId`, `workgroupId`, `numWorkgroups` and that index are used from the generated prelude.
 * A WebGPU pipeline leaves out bindings its code never reads, and tfjs binds every input: each
 * program must read all the inputs it names.
 */
import type * as tf from '@tensorflow/tfjs'
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu'
import { InvalidArgumentError } from '../../hddm-error.js'

/** One field of a program's own uniforms, in the order of its `uniforms` declaration. */
export interface Uniform { type: 'int32' | 'float32', data: number[] }

export interface WebGpuTensorData {
  values: unknown
  dtype: string
  refCount: number
  resource?: unknown
  external?: boolean
}

/** The parts of tfjs-backend-webgpu's WebGPUBackend the kernels touch. */
export interface WebGpuBackend {
  tensorMap: { get: (id: tf.DataId) => WebGpuTensorData | undefined }
  runWebGPUProgram: (
    program: WebGPUProgram, inputs: tf.TensorInfo[], dtype: tf.DataType, uniforms?: Uniform[], output?: tf.TensorInfo
  ) => tf.TensorInfo
  makeTensorInfo: (shape: number[], dtype: tf.DataType) => tf.TensorInfo
  disposeData: (id: tf.DataId, force?: boolean) => boolean
}

/** A kernel body as the webgpu kernels are written: tfjs's arguments, the backend typed. */
export type WebGpuKernelFunc = (
  inputs: tf.NamedTensorInfoMap, backend: WebGpuBackend, attrs: tf.NamedAttrMap
) => tf.TensorInfo | tf.TensorInfo[]

export interface ProgramSpec {
  /** Names the compiled pipeline: must change with anything baked into `code`. */
  key: string
  inputs: string[]
  outputShape: number[]
  /** Invocations per workgroup (x only). */
  workgroup: number
  /** Workgroups to dispatch; tfjs folds more than 65535 into y and z, and `index` stays flat. */
  workgroups: number
  /** The program's own uniform fields, e.g. 'rows : i32, eps : f32,'. */
  uniforms?: string
  /** Declare `uniforms.size` (the output's element count). */
  size?: boolean
  code: string
}

export function program (spec: ProgramSpec): WebGPUProgram {
  return {
    shaderKey: `hddm_${spec.key}`,
    variableNames: spec.inputs,
    outputShape: spec.outputShape,
    workgroupSize: [spec.workgroup, 1, 1],
    dispatchLayout: { x: spec.outputShape.map((_, i) => i) },
    dispatch: [spec.workgroups, 1, 1],
    ...(spec.size === true ? { size: true } : {}),
    ...(spec.uniforms !== undefined ? { uniforms: spec.uniforms } : {}),
    getUserCode: () => spec.code
  }
}

export function ints (...data: number[]): Uniform[] {
  return data.map(d => ({ type: 'int32', data: [d] }))
}

export function floats (...data: number[]): Uniform[] {
  return data.map(d => ({ type: 'float32', data: [d] }))
}

/**
 * WGSL: `rowSum(v, first)`, the sum of `v` over the `lanes` consecutive invocations that share a
 * row, starting at local index `first`, returned to each of them: one barrier to publish, each
 * lane adds the row's partials itself (no tree: on lavapipe a barrier costs more than the adds).
 * Call it from uniform control flow only.
 */
export function rowSum (lanes: number, workgroup: number): string {
  return `
  var<workgroup> partial : array<f32, ${workgroup}>;
  fn rowSum(v : f32, first : u32) -> f32 {
    partial[localId.x] = v;
    workgroupBarrier();
    var total = 0.0;
    for (var i = 0u; i < ${lanes}u; i++) { total += partial[first + i]; }
    workgroupBarrier();
    return total;
  }`
}

/** Thrown from a fused kernel given inputs it cannot take: these kernels have no fallback. */
export function unsupported (name: string, why: string): never {
  throw new InvalidArgumentError(`${name}: ${why}`)
}

/** The inputs, in order, each required to be float32. */
export function float32Inputs (name: string, inputs: tf.NamedTensorInfoMap, names: string[]): tf.TensorInfo[] {
  return names.map(n => {
    const t = inputs[n]
    if (t === undefined || t.dtype !== 'float32') return unsupported(name, `${n} must be a float32 tensor`)
    return t
  })
}

export function sizeOf (shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}
