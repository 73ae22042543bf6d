/**
 * The few building blocks the networks share. Shape symbols: B batch, T tokens, D hidden,
 * P patch side, C channels.
 */
import * as tf from '@tensorflow/tfjs'
import { TIME_FREQUENCY_DIM } from './config.js'
import type { LinearParams } from './params.js'

/**
 * x [N, in] @ W [in, out] + b, with an explicit-transpose gradient.
 * wasm runs only plain, non-transposed 2-D matmuls on its fast path, while core's matMul
 * gradient uses transposed products (about 5x slower there); transposing first keeps all
 * three products on the fast path. Gradients equal tf.matMul's (tested).
 */
export const denseExplicitTranspose = tf.customGrad((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, w, b, save] = inputs as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc]
  save([x, w])
  return {
    value: tf.add(tf.matMul(x, w), b) as tf.Tensor2D,
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as tf.Tensor2D[]
      return [tf.matMul(dy, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy), tf.sum(dy, 0)]
    }
  }
}) as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D

/** x [..., in] -> [..., out]. */
export function linear (x: tf.Tensor, p: LinearParams): tf.Tensor {
  const inDim = x.shape[x.rank - 1]
  const outDim = p.weight.shape[1] as number
  const lead = x.shape.slice(0, -1)
  const x2 = x.rank === 2 ? x as tf.Tensor2D : tf.reshape(x, [-1, inDim]) as tf.Tensor2D
  // On the cpu backend (and our native kernels) transposed products map straight onto
  // sgemm flags, so the fused op with core's gradient is the fast path there.
  const y = tf.getBackend() === 'wasm'
    ? denseExplicitTranspose(x2, p.weight as tf.Tensor2D, p.bias as tf.Tensor1D)
    : tf.fused.matMul({ a: x2, b: p.weight as tf.Tensor2D, bias: p.bias })
  return x.rank === 2 ? y : tf.reshape(y, [...lead, outDim])
}

export function silu (x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x))
}

/**
 * Sinusoidal embedding of float times, as DiT's TimestepEmbedder: [cos(t f), sin(t f)] with
 * f = exp(-ln(10000) i / (half - shift)); shift 0 is DiT's and PixArt's, 1 diffusers' DiT port's.
 * t [B] (already in the network's own units) -> [B, 256].
 */
export function timestepFrequencies (t: tf.Tensor1D, dim = TIME_FREQUENCY_DIM, shift = 0): tf.Tensor2D {
  return tf.tidy(() => {
    const half = dim / 2
    // (-ln(10^4) i) / (half - shift) in torch's order, so that diffusers' 127 rounds as it does there;
    // for half = 128 a power of two, it is bit for bit the old (-ln(10^4) / half) i.
    const exponents = tf.div(tf.mul(-Math.log(10000), tf.range(0, half, 1, 'float32')), half - shift)
    const freqs = tf.exp(exponents)                                                           // [half]
    const args = tf.mul(tf.expandDims(t, 1), tf.expandDims(freqs, 0))                        // [B, half]
    return tf.concat([tf.cos(args), tf.sin(args)], 1) as tf.Tensor2D                          // [B, dim]
  })
}

/** Fixed 2-D sin-cos position table of DiT/MAE: [gridSize^2, D]. */
export function sincosPositions2d (dim: number, gridSize: number): Float32Array {
  const out = new Float32Array(gridSize * gridSize * dim)
  const quarter = dim / 4
  for (let i = 0; i < gridSize; i++) {        // row
    for (let j = 0; j < gridSize; j++) {      // column
      const row = (i * gridSize + j) * dim
      for (let k = 0; k < quarter; k++) {
        const omega = 1 / 10000 ** (k / quarter)
        // MAE's convention: the first half encodes the column (w), the second the row (h).
        out[row + k] = Math.sin(j * omega)
        out[row + quarter + k] = Math.cos(j * omega)
        out[row + 2 * quarter + k] = Math.sin(i * omega)
        out[row + 3 * quarter + k] = Math.cos(i * omega)
      }
    }
  }
  return out
}

/** [B, H, W, C] -> [B, T, P*P*C], patches in row-major order. */
export function patchify (x: tf.Tensor4D, p: number): tf.Tensor3D {
  const [b, h, w, c] = x.shape
  const gh = h / p
  const gw = w / p
  return tf.tidy(() => {
    const r = tf.reshape(x, [b, gh, p, gw, p, c])
    return tf.reshape(tf.transpose(r, [0, 1, 3, 2, 4, 5]), [b, gh * gw, p * p * c]) as tf.Tensor3D
  })
}

/** [B, T, P*P*C] -> [B, H, W, C]; the inverse of patchify. */
export function unpatchify (x: tf.Tensor3D, p: number, imageSize: number, channels: number): tf.Tensor4D {
  const [b] = x.shape
  const g = imageSize / p
  return tf.tidy(() => {
    const r = tf.reshape(x, [b, g, g, p, p, channels])
    return tf.reshape(tf.transpose(r, [0, 1, 3, 2, 4, 5]), [b, imageSize, imageSize, channels]) as tf.Tensor4D
  })
}

/** Rows i of a [K, ...] table as one-hot x table: wasm has no gradient for gather. ids [N] -> [N, E]. */
export function embed (ids: tf.Tensor1D, table: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(tf.oneHot(tf.cast(ids, 'int32'), table.shape[0]), table)
}

/** LayerNorm over the last axis with an optional affine (the router head's LN has one). */
export function layerNorm (x: tf.Tensor, eps = 1e-6, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true)
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)))
  return gamma !== undefined && beta !== undefined ? tf.add(tf.mul(normed, gamma), beta) : normed
}

/** [B, n*D] -> n tensors [B, D] (chunk along the last axis, as torch.chunk). */
export function chunk (x: tf.Tensor2D, n: number): tf.Tensor2D[] {
  return tf.split(x, n, 1) as tf.Tensor2D[]
}
