import * as tf from '@tensorflow/tfjs'
import { currentBackend, initBackend, type BackendName } from '../../src/runtime/backend.js'
import { attention, layerNormModulate } from '../../src/runtime/fused-ops.js'
import { nativePoolStats } from '../../src/runtime/native/install.js'

/** Deterministic values in [lo, hi): every backend sees the same inputs. */
export function values (n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed * 7919 + 13
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648
    return lo + (hi - lo) * s / 2147483648
  })
}

export function tensor (shape: number[], seed: number, lo = -1, hi = 1): tf.Tensor {
  return tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape)
}

/** max |x - ref| / max |ref|: the error relative to the tensor's scale. */
export function relErr (x: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (x.length !== ref.length) return Infinity
  let diff = 0
  let scale = 1e-30
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(x[i] - ref[i]))
    scale = Math.max(scale, Math.abs(ref[i]))
  }
  return diff / scale
}

/** Runs `fn` on a backend and returns plain arrays of its tensors (read inside, then disposed). */
export async function on (backend: BackendName, fn: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  if (currentBackend()?.name !== backend) await initBackend({ backend, threads: 2 })
  return tf.tidy(() => {
    const out = fn()
    return (Array.isArray(out) ? out : [out]).map(t => Float32Array.from(t.dataSync()))
  })
}

/** Outputs made by the native kernels so far (a kernel that fell back to tfjs makes none). */
export function nativeOutputs (): number {
  const s = nativePoolStats()
  return s === undefined ? 0 : s.hits + s.misses
}

/** A computation to compare across backends: its outputs in order. */
export type Fn = () => tf.Tensor[]

/** The value and the gradients with respect to every input, of sum(f(inputs) * w). */
export function valueAndGrads (f: (...xs: tf.Tensor[]) => tf.Tensor, shapes: number[][]): Fn {
  return () => {
    const xs = shapes.map((s, i) => tensor(s, 20 + i, -2, 2))
    const y = f(...xs)
    const w = tensor(y.shape, 99)
    const grads = tf.grads((...args: tf.Tensor[]) => tf.sum(tf.mul(f(...args), w)) as tf.Scalar)(xs)
    return [y, ...grads]
  }
}

export const modulate = (x: tf.Tensor, sh: tf.Tensor, sc: tf.Tensor): tf.Tensor =>
  layerNormModulate(x as tf.Tensor3D, sh as tf.Tensor2D, sc as tf.Tensor2D)

export function attend (heads: number): (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor {
  return (q, k, v) => attention(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, heads)
}
