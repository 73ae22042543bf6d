/**
 * AdaLN-Zero -> AdaLN-Single (PixArt-alpha's recipe, Chen et al. 2023, section 2.3): DiT gives
 * every block b its own modulation MLP, mod_b(c) = W_b silu(c) + beta_b [6D]; AdaLN-Single has
 * one shared t_block(c) = W silu(c) + beta and a [6, D] table per block, mod_b ~ t_block(c) + E_b.
 *   1. W, beta  = one block's MLP (`sharedFrom: k`) or the mean over blocks ('mean', the least-
 *                 squares choice when the tables are free); copied into t_block.
 *   2. E_b      = mod_b(c_ref) - t_block(c_ref): block b reproduces its own modulation exactly at
 *                 the reference conditioning c_ref (the time embedding at `referenceStep`, with
 *                 the null label folded in); elsewhere it is off by (W_b - W) (silu(c) - silu(c_ref)).
 *   3. final    = DiT's final modulation Linear(silu(c)) -> a [2, D] table added to c itself:
 *                 E_f = mod_f(c_ref) - c_ref, exact at c_ref.
 * Computed in float64 on the host; docs/MODEL.md has the measured error at other times.
 */
import { ShapeMismatchError } from '../errors.js'
import type { NamedTensor } from '../safetensors.js'
import { TIME_FREQUENCY_DIM, type DiTConfig } from '../../model/config.js'
import { need } from './tensors.js'

export interface AdaLNSingleOptions {
  /** The DDPM step at which every block's modulation is reproduced exactly. @default 500 */
  referenceStep?: number
  /** The block whose MLP becomes t_block, or 'mean' over blocks. @default 'mean' */
  sharedFrom?: 'mean' | number
}

export const DEFAULT_REFERENCE_STEP = 500

const silu = (v: Float64Array): Float64Array => v.map(x => x / (1 + Math.exp(-x)))

/** y = x W + b for our [in, out] weights, in float64. */
function affine (x: Float64Array, w: NamedTensor, b: NamedTensor): Float64Array {
  const [inDim, outDim] = w.shape
  const y = Float64Array.from(b.data)
  for (let i = 0; i < inDim; i++) {
    const xi = x[i]
    if (xi === 0) continue
    const row = i * outDim
    for (let j = 0; j < outDim; j++) y[j] += xi * w.data[row + j]
  }
  return y
}

/** The conditioning c at DDPM step s: the time MLP of `tensors`, as DiT's TimestepEmbedder (float64). */
export function timeEmbedding (tensors: Map<string, NamedTensor>, step: number, frequencyShift = 0): Float64Array {
  const D = (tensors.get('t_embedder.mlp.2.bias')?.shape ?? [0])[0]
  const half = TIME_FREQUENCY_DIM / 2
  const f = new Float64Array(TIME_FREQUENCY_DIM)
  for (let i = 0; i < half; i++) {
    const arg = step * Math.exp(-Math.log(10000) * i / (half - frequencyShift))
    f[i] = Math.cos(arg)
    f[half + i] = Math.sin(arg)
  }
  const mlp = (i: number, inDim: number): [NamedTensor, NamedTensor] =>
    [need(tensors, `t_embedder.mlp.${i}.weight`, [inDim, D]), need(tensors, `t_embedder.mlp.${i}.bias`, [D])]
  const h = silu(affine(f, ...mlp(0, TIME_FREQUENCY_DIM)))
  return affine(h, ...mlp(2, D))
}

/**
 * Replaces the AdaLN-Zero tensors of `tensors` (ours, for `config`, class label already folded
 * into the time MLP) by AdaLN-Single ones, in place.
 */
export function adaLNZeroToSingle (
  tensors: Map<string, NamedTensor>, config: DiTConfig, options: AdaLNSingleOptions = {}
): void {
  const { hidden: D, depth } = config
  const sharedFrom = options.sharedFrom ?? 'mean'
  if (sharedFrom !== 'mean' && !(Number.isInteger(sharedFrom) && sharedFrom >= 0 && sharedFrom < depth)) {
    throw new ShapeMismatchError(`no block ${String(sharedFrom)} to share (depth ${depth})`)
  }
  const c = timeEmbedding(tensors, options.referenceStep ?? DEFAULT_REFERENCE_STEP, config.timeFrequencyShift)
  const s = silu(c)
  const weights = Array.from({ length: depth }, (_, b) => ({
    w: need(tensors, `blocks.${b}.adaLN_modulation.1.weight`, [D, 6 * D]),
    b: need(tensors, `blocks.${b}.adaLN_modulation.1.bias`, [6 * D])
  }))
  const shared = sharedFrom === 'mean' ? meanOf(weights, D) : weights[sharedFrom]
  const sharedAt = affine(s, shared.w, shared.b)
  tensors.set('t_block.1.weight', shared.w)
  tensors.set('t_block.1.bias', shared.b)
  weights.forEach((wb, b) => {
    const own = affine(s, wb.w, wb.b)
    const table = Float32Array.from(own, (v, j) => v - sharedAt[j])
    tensors.set(`blocks.${b}.scale_shift_table`, { shape: [6, D], data: table })
    tensors.delete(`blocks.${b}.adaLN_modulation.1.weight`)
    tensors.delete(`blocks.${b}.adaLN_modulation.1.bias`)
  })
  const final = affine(s, need(tensors, 'final_layer.adaLN_modulation.1.weight', [D, 2 * D]),
    need(tensors, 'final_layer.adaLN_modulation.1.bias', [2 * D]))
  // AdaLN-Single's final layer adds its table to c itself: [2, D] + c broadcast over the 2 rows.
  const finalTable = Float32Array.from(final, (v, j) => v - c[j % D])
  tensors.set('final_layer.scale_shift_table', { shape: [2, D], data: finalTable })
  tensors.delete('final_layer.adaLN_modulation.1.weight')
  tensors.delete('final_layer.adaLN_modulation.1.bias')
}

function meanOf (weights: Array<{ w: NamedTensor, b: NamedTensor }>, D: number): { w: NamedTensor, b: NamedTensor } {
  const w = new Float32Array(D * 6 * D)
  const b = new Float32Array(6 * D)
  const n = weights.length
  for (let i = 0; i < w.length; i++) {
    let sum = 0
    for (const wb of weights) sum += wb.w.data[i]
    w[i] = sum / n
  }
  for (let i = 0; i < b.length; i++) {
    let sum = 0
    for (const wb of weights) sum += wb.b.data[i]
    b[i] = sum / n
  }
  return { w: { shape: [D, 6 * D], data: w }, b: { shape: [6 * D], data: b } }
}
