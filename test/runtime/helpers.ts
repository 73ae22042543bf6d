import * as tf from '@tensorflow/tfjs'
import { currentBackend, initBackend, type BackendName } from '../../src/runtime/backend.js'
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
