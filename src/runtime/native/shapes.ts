/**
 * Shape bookkeeping done in JS so that the C++ loops see few, long dimensions: size-1 axes are
 * dropped and neighbouring axes that move together are merged ("coalesced").
 */

export interface BroadcastPlan {
  shape: Int32Array
  stridesA: Int32Array
  stridesB: Int32Array
}

function contiguousStrides (shape: number[]): number[] {
  const strides = new Array<number>(shape.length)
  let s = 1
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s
    s *= shape[d]
  }
  return strides
}

/** Element strides of a and b along outShape (0 where an input broadcasts), coalesced. */
export function broadcastPlan (aShape: number[], bShape: number[], outShape: number[]): BroadcastPlan {
  const rank = outShape.length
  const pad = (s: number[]): number[] => [...new Array<number>(rank - s.length).fill(1), ...s]
  const a = pad(aShape)
  const b = pad(bShape)
  const ca = contiguousStrides(a)
  const cb = contiguousStrides(b)
  const dims: Array<[number, number, number]> = []   // [size, strideA, strideB]
  for (let d = 0; d < rank; d++) {
    if (outShape[d] === 1) continue
    dims.push([outShape[d], a[d] === 1 ? 0 : ca[d], b[d] === 1 ? 0 : cb[d]])
  }
  const merged: Array<[number, number, number]> = []
  for (const dim of dims) {
    const last = merged[merged.length - 1]
    // Axis i folds into i-1 when, for both inputs, stepping i-1 equals stepping all of i.
    if (last !== undefined && last[1] === dim[1] * dim[0] && last[2] === dim[2] * dim[0]) {
      merged[merged.length - 1] = [last[0] * dim[0], dim[1], dim[2]]
    } else {
      merged.push([...dim])
    }
  }
  if (merged.length === 0) merged.push([1, 0, 0])
  return {
    shape: Int32Array.from(merged, m => m[0]),
    stridesA: Int32Array.from(merged, m => m[1]),
    stridesB: Int32Array.from(merged, m => m[2])
  }
}

/** Transpose with size-1 axes dropped and runs of axes that stay adjacent merged. */
export function transposePlan (shape: number[], perm: number[]): { shape: Int32Array, perm: Int32Array } {
  const kept = perm.filter(p => shape[p] !== 1)
  // Renumber the kept input axes 0..n-1 in input order.
  const order = [...kept].sort((x, y) => x - y)
  const rename = new Map(order.map((axis, i) => [axis, i]))
  const p = kept.map(axis => rename.get(axis) as number)
  const s = order.map(axis => shape[axis])
  // Group input axes that appear consecutively (i, i+1) in the output order.
  const groups: number[][] = []
  for (const axis of p) {
    const last = groups[groups.length - 1]
    if (last !== undefined && last[last.length - 1] + 1 === axis) last.push(axis)
    else groups.push([axis])
  }
  const byInput = [...groups].sort((x, y) => x[0] - y[0])
  const index = new Map(byInput.map((g, i) => [g[0], i]))
  const outShape = byInput.map(g => g.reduce((acc, axis) => acc * s[axis], 1))
  const outPerm = groups.map(g => index.get(g[0]) as number)
  return outShape.length === 0
    ? { shape: Int32Array.of(1), perm: Int32Array.of(0) }
    : { shape: Int32Array.from(outShape), perm: Int32Array.from(outPerm) }
}

/**
 * [outer, size, inner] view for a reduction over `axes`, or undefined when the axes are not one
 * contiguous block (tfjs's own kernel handles those).
 */
export function reducePlan (
  shape: number[], axes: number[]
): { outer: number, size: number, inner: number } | undefined {
  const sorted = [...new Set(axes.map(a => a < 0 ? a + shape.length : a))].sort((x, y) => x - y)
  if (sorted.length === 0) return undefined
  for (let i = 1; i < sorted.length; i++) if (sorted[i] !== sorted[i - 1] + 1) return undefined
  const first = sorted[0]
  const last = sorted[sorted.length - 1]
  const prod = (from: number, to: number): number => shape.slice(from, to).reduce((a, b) => a * b, 1)
  return { outer: prod(0, first), size: prod(first, last + 1), inner: prod(last + 1, shape.length) }
}

/** The output shape of a reduction. */
export function reducedShape (shape: number[], axes: number[], keepDims: boolean): number[] {
  const set = new Set(axes.map(a => a < 0 ? a + shape.length : a))
  return keepDims ? shape.map((s, d) => set.has(d) ? 1 : s) : shape.filter((_, d) => !set.has(d))
}

/** numpy-style broadcast of two shapes, or undefined when they do not broadcast. */
export function broadcastShapes (a: number[], b: number[]): number[] | undefined {
  const rank = Math.max(a.length, b.length)
  const out: number[] = []
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1
    const y = b[b.length - rank + i] ?? 1
    if (x !== y && x !== 1 && y !== 1) return undefined
    out.push(x === 1 ? y : x)
  }
  return out
}
