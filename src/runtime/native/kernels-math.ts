/**
 * Native bodies for the matmul, elementwise and reduction kernels of tfjs's cpu backend. Each
 * returns undefined for what it does not handle (non-float32, unusual broadcasts), and the
 * installer then runs tfjs's own kernel.
 */
import type * as tf from '@tensorflow/tfjs'
import { sizeOf, type KernelContext, type NativeKernelFunc } from './context.js'
import { broadcastPlan, broadcastShapes, reducePlan, reducedShape } from './shapes.js'

/** Op codes of the addon's binary(), unary() and reduce(). */
const BINARY = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6 } as const
const UNARY = {
  Neg: 0, Exp: 1, Tanh: 2, Sigmoid: 3, Sqrt: 4, Rsqrt: 5, Square: 6, Log: 7, Abs: 8, Relu: 9, Reciprocal: 10
} as const
const REDUCE = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const

interface MatMulPlan { batchA: number, batchB: number, m: number, n: number, k: number, outShape: number[] }

/** Batch dims flattened; a batch broadcasts only as a whole (size 1), which covers the model. */
function matMulPlan (a: number[], b: number[], transA: boolean, transB: boolean): MatMulPlan | undefined {
  if (a.length < 2 || b.length < 2) return undefined
  const [m, k] = transA ? [a[a.length - 1], a[a.length - 2]] : [a[a.length - 2], a[a.length - 1]]
  const [kb, n] = transB ? [b[b.length - 1], b[b.length - 2]] : [b[b.length - 2], b[b.length - 1]]
  if (k !== kb) return undefined
  const batchShapeA = a.slice(0, -2)
  const batchShapeB = b.slice(0, -2)
  const batchA = sizeOf(batchShapeA)
  const batchB = sizeOf(batchShapeB)
  const batchShape = broadcastShapes(batchShapeA, batchShapeB)
  if (batchShape === undefined) return undefined
  if (batchA !== 1 && batchB !== 1 && batchA !== batchB) return undefined
  if (batchA !== 1 && batchB !== 1 && batchShapeA.join() !== batchShapeB.join()) return undefined
  return { batchA, batchB, m, n, k, outShape: [...batchShape, m, n] }
}

export function batchMatMul (ctx: KernelContext): NativeKernelFunc {
  return (inputs, backend, attrs) => {
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs
    const a = ctx.input(backend, inputs.a)
    const b = ctx.input(backend, inputs.b)
    if (a === undefined || b === undefined) return undefined
    const plan = matMulPlan(a.shape, b.shape, transposeA, transposeB)
    if (plan === undefined) return undefined
    const out = ctx.output(backend, plan.outShape)
    const { batchA, batchB, m, n, k } = plan
    ctx.addon.batchMatMul(a.values, b.values, out.values, batchA, batchB, m, n, k, transposeA, transposeB)
    return out.info
  }
}

/** _FusedMatMul with a bias over the last axis and a linear or relu activation. */
export function fusedMatMul (ctx: KernelContext): NativeKernelFunc {
  return (inputs, backend, attrs) => {
    const { transposeA, transposeB, activation } = attrs as unknown as tf._FusedMatMulAttrs
    const supported = (activation === 'linear' || activation === 'relu') && inputs.preluActivationWeights === undefined
    if (!supported) return undefined
    const a = ctx.input(backend, inputs.a)
    const b = ctx.input(backend, inputs.b)
    if (a === undefined || b === undefined) return undefined
    const plan = matMulPlan(a.shape, b.shape, transposeA, transposeB)
    if (plan === undefined) return undefined
    let bias: Float32Array | null = null
    if (inputs.bias !== undefined) {
      const given = ctx.input(backend, inputs.bias)
      if (given === undefined) return undefined
      const lastAxis = given.shape.length > 0 ? given.shape[given.shape.length - 1] : plan.n
      if (sizeOf(given.shape) !== plan.n || lastAxis !== plan.n) return undefined
      bias = given.values
    }
    const out = ctx.output(backend, plan.outShape)
    const { batchA, batchB, m, n, k } = plan
    ctx.addon.batchMatMul(a.values, b.values, out.values, batchA, batchB, m, n, k, transposeA, transposeB)
    const relu = activation === 'relu'
    if (bias !== null || relu) ctx.addon.biasActivation(out.values, bias, n, relu ? 1 : 0)
    return out.info
  }
}

export function binary (ctx: KernelContext, name: keyof typeof BINARY): NativeKernelFunc {
  const op = BINARY[name]
  return (inputs, backend) => {
    const a = ctx.input(backend, inputs.a)
    const b = ctx.input(backend, inputs.b)
    if (a === undefined || b === undefined) return undefined
    const outShape = broadcastShapes(a.shape, b.shape)
    if (outShape === undefined || sizeOf(outShape) === 0) return undefined
    const plan = broadcastPlan(a.shape, b.shape, outShape)
    const out = ctx.output(backend, outShape)
    ctx.addon.binary(op, a.values, b.values, out.values, plan.shape, plan.stridesA, plan.stridesB)
    return out.info
  }
}

export function unary (ctx: KernelContext, name: keyof typeof UNARY): NativeKernelFunc {
  const op = UNARY[name]
  return (inputs, backend) => {
    const x = ctx.input(backend, inputs.x)
    if (x === undefined) return undefined
    const out = ctx.output(backend, x.shape)
    ctx.addon.unary(op, x.values, out.values)
    return out.info
  }
}

export function reduce (ctx: KernelContext, name: keyof typeof REDUCE): NativeKernelFunc {
  const op = REDUCE[name]
  return (inputs, backend, attrs) => {
    const x = ctx.input(backend, inputs.x)
    if (x === undefined || x.shape.length === 0 || sizeOf(x.shape) === 0) return undefined
    // Max names its axes reductionIndices; Sum, Mean and Min call them axis.
    const raw = (name === 'Max' ? attrs.reductionIndices : attrs.axis) as number | number[] | null | undefined
    const shape = x.shape
    const axes = raw === null || raw === undefined ? shape.map((_, d) => d) : Array.isArray(raw) ? raw : [raw]
    const plan = reducePlan(shape, axes)
    if (plan === undefined) return undefined
    const out = ctx.output(backend, reducedShape(shape, axes, attrs.keepDims as boolean))
    ctx.addon.reduce(op, x.values, out.values, plan.outer, plan.size, plan.inner)
    return out.info
  }
}

export const BINARY_KERNELS = Object.keys(BINARY) as Array<keyof typeof BINARY>
export const UNARY_KERNELS = Object.keys(UNARY) as Array<keyof typeof UNARY>
export const REDUCE_KERNELS = Object.keys(REDUCE) as Array<keyof typeof REDUCE>
