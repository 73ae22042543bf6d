/**
 * Fused model ops with composite fallbacks.
 *
 * The model calls these helpers instead of composing the ops itself. When a backend has a
 * fused kernel registered under the name below (the native cpu kernels register them, with
 * gradients), the helper runs that kernel; on any other backend it builds the same value from
 * plain tfjs ops, so the model runs everywhere and the two paths can be tested against each other.
 */
import * as tf from '@tensorflow/tfjs'

export const GELU_TANH = 'HddmGeluTanh'
export const LAYER_NORM_MODULATE = 'HddmLayerNormModulate'
export const ATTENTION = 'HddmAttention'

/** Set HDDM_FUSED=0 to force the composite path (debugging a fused kernel). */
const fusedDisabled = (): boolean => typeof process !== 'undefined' && process.env.HDDM_FUSED === '0'

export function hasFusedKernel (name: string): boolean {
  return !fusedDisabled() && tf.getKernel(name, tf.getBackend()) !== undefined
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI)

/** GELU, tanh approximation (as DiT's MLP): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluTanh (x: tf.Tensor): tf.Tensor {
  if (hasFusedKernel(GELU_TANH)) return tf.engine().runKernel(GELU_TANH, { x }) as tf.Tensor
  return tf.tidy(() => {
    const inner = tf.mul(SQRT_2_OVER_PI, tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x)))))
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)))
  })
}

/**
 * LayerNorm without affine over the last axis, then AdaLN modulation:
 * LN(x) * (1 + scale) + shift, with scale and shift broadcast over tokens.
 * x [B, T, D], shift [B, D], scale [B, D] -> [B, T, D]
 */
export function layerNormModulate (x: tf.Tensor3D, shift: tf.Tensor2D, scale: tf.Tensor2D, eps = 1e-6): tf.Tensor3D {
  if (hasFusedKernel(LAYER_NORM_MODULATE)) {
    return tf.engine().runKernel(LAYER_NORM_MODULATE, { x, shift, scale }, { eps }) as tf.Tensor3D
  }
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true)                      // [B, T, 1]
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)))  // [B, T, D]
    return tf.add(tf.mul(normed, tf.add(1, tf.expandDims(scale, 1))), tf.expandDims(shift, 1)) as tf.Tensor3D
  })
}

/**
 * Multi-head scaled dot-product attention.
 * q [B, T, D], k [B, S, D], v [B, S, D] -> [B, T, D]; heads split on the last axis
 * (contiguous slices of D/heads), which avoids rank-4 transposes (slow on wasm).
 */
export function attention (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number): tf.Tensor3D {
  if (hasFusedKernel(ATTENTION)) return tf.engine().runKernel(ATTENTION, { q, k, v }, { heads }) as tf.Tensor3D
  return tf.tidy(() => {
    const dh = q.shape[2] / heads
    const scale = 1 / Math.sqrt(dh)
    const qs = tf.split(q, heads, 2)
    const ks = tf.split(k, heads, 2)
    const vs = tf.split(v, heads, 2)
    const outs = qs.map((qh, h) => {
      const logits = tf.mul(tf.matMul(qh, ks[h], false, true), scale)      // [B, T, S]
      return tf.matMul(tf.softmax(logits), vs[h])                          // [B, T, dh]
    })
    return tf.concat(outs, 2) as tf.Tensor3D                               // [B, T, D]
  })
}
