/** Native bodies for Transpose, Softmax, SplitV and Concat on tfjs's cpu backend. */
import * as tf from '@tensorflow/tfjs'
import { sizeOf, type KernelContext, type NativeInput, type NativeKernelFunc } from './context.js'
import { transposePlan } from './shapes.js'

export function transpose (ctx: KernelContext): NativeKernelFunc {
  return (inputs, backend, attrs) => {
    const x = ctx.input(backend, inputs.x)
    if (x === undefined || sizeOf(x.shape) === 0) return undefined
    const perm = (attrs as unknown as tf.TransposeAttrs).perm
    const plan = transposePlan(x.shape, perm)
    const out = ctx.output(backend, perm.map(p => x.shape[p]))
    ctx.addon.transpose(x.values, out.values, plan.shape, plan.perm)
    return out.info
  }
}

export function softmax (ctx: KernelContext): NativeKernelFunc {
  return (inputs, backend, attrs) => {
    const x = ctx.input(backend, inputs.logits)
    const dim = (attrs as unknown as tf.SoftmaxAttrs).dim
    if (x === undefined || x.shape.length === 0 || sizeOf(x.shape) === 0) return undefined
    if (dim !== -1 && dim !== x.shape.length - 1) return undefined
    const cols = x.shape[x.shape.length - 1]
    const out = ctx.output(backend, x.shape)
    ctx.addon.softmax(x.values, out.values, sizeOf(x.shape) / cols, cols)
    return out.info
  }
}

/** Rows before the axis, and elements per unit of the axis after it. */
function around (shape: number[], axis: number): { outer: number, inner: number } {
  return { outer: sizeOf(shape.slice(0, axis)), inner: sizeOf(shape.slice(axis + 1)) }
}

export function splitV (ctx: KernelContext): NativeKernelFunc {
  return (inputs, backend, attrs) => {
    const x = ctx.input(backend, inputs.x)
    if (x === undefined || x.shape.length === 0) return undefined
    const { numOrSizeSplits, axis: rawAxis } = attrs as unknown as tf.SplitVAttrs
    const axis = tf.util.parseAxisParam(rawAxis, x.shape)[0]
    const splits = splitSizes(x.shape[axis], numOrSizeSplits)
    if (splits === undefined) return undefined
    const { outer, inner } = around(x.shape, axis)
    const rowLength = x.shape[axis] * inner
    let start = 0
    return splits.map(size => {
      const shape = [...x.shape]
      shape[axis] = size
      const out = ctx.output(backend, shape)
      ctx.addon.copy2d(x.values, start * inner, rowLength, out.values, 0, size * inner, outer, size * inner)
      start += size
      return out.info
    })
  }
}

/** Sizes of the pieces, as tf.split defines them (a count, or sizes with at most one -1). */
function splitSizes (length: number, numOrSizeSplits: number | number[]): number[] | undefined {
  if (typeof numOrSizeSplits === 'number') {
    const even = length % numOrSizeSplits === 0
    return even ? new Array<number>(numOrSizeSplits).fill(length / numOrSizeSplits) : undefined
  }
  const known = numOrSizeSplits.filter(s => s !== -1).reduce((a, b) => a + b, 0)
  const sizes = numOrSizeSplits.map(s => s === -1 ? length - known : s)
  return sizes.reduce((a, b) => a + b, 0) === length && sizes.every(s => s >= 0) ? sizes : undefined
}

export function concat (ctx: KernelContext): NativeKernelFunc {
  return (inputs, backend, attrs) => {
    const all = Object.values(inputs) as tf.TensorInfo[]
    const parts = all.map(t => ctx.input(backend, t))
    if (parts.length === 0 || parts.some(p => p === undefined)) return undefined
    const given = (parts as NativeInput[]).filter(p => sizeOf(p.shape) > 0)
    if (given.length === 0) return undefined
    const rank = given[0].shape.length
    if (rank === 0) return undefined
    const axis = tf.util.parseAxisParam((attrs as unknown as tf.ConcatAttrs).axis, given[0].shape)[0]
    const outShape = [...given[0].shape]
    outShape[axis] = given.reduce((acc, p) => acc + p.shape[axis], 0)
    // Every other axis must agree; tfjs's kernel reports the error when they do not.
    const otherAxesAgree = (p: NativeInput): boolean => p.shape.every((s, d) => d === axis || s === outShape[d])
    if (given.some(p => p.shape.length !== rank || !otherAxesAgree(p))) return undefined
    const { outer, inner } = around(outShape, axis)
    const out = ctx.output(backend, outShape)
    let start = 0
    for (const p of given) {
      const cols = p.shape[axis] * inner
      ctx.addon.copy2d(p.values, 0, cols, out.values, start * inner, outShape[axis] * inner, outer, cols)
      start += p.shape[axis]
    }
    return out.info
  }
}
