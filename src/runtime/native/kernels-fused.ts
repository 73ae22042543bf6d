/**
 * The fused model ops as native cpu kernels: 'HddmGeluTanh', 'HddmLayerNormModulate' and
 * 'HddmAttention' (names and contracts in ../fused-ops.ts, which runs them when the current
 * backend has them), plus the backward kernels their gradients call (../fused-gradients.ts).
 */
import { InvalidArgumentError } from '../../hddm-error.js'
import { ATTENTION_GRAD, GELU_TANH_GRAD, LAYER_NORM_MODULATE_GRAD } from '../fused-gradients.js'
import { ATTENTION, GELU_TANH, LAYER_NORM_MODULATE } from '../fused-ops.js'
import type { KernelContext, NativeKernelFunc } from './context.js'

/** Thrown from a fused kernel given inputs it cannot take: these kernels have no tfjs fallback. */
function unsupported (name: string, why: string): never {
  throw new InvalidArgumentError(`${name}: ${why}`)
}

export function geluTanh (ctx: KernelContext): NativeKernelFunc {
  return (inputs, backend) => {
    const x = ctx.input(backend, inputs.x) ?? unsupported(GELU_TANH, 'x must be float32')
    const out = ctx.output(backend, x.shape)
    ctx.addon.gelu(x.values, out.values)
    return out.info
  }
}

export function geluTanhGrad (ctx: KernelContext): NativeKernelFunc {
  return (inputs, backend) => {
    const x = ctx.input(backend, inputs.x) ?? unsupported(GELU_TANH_GRAD, 'x must be float32')
    const dy = ctx.input(backend, inputs.dy) ?? unsupported(GELU_TANH_GRAD, 'dy must be float32')
    const out = ctx.output(backend, x.shape)
    ctx.addon.geluGrad(x.values, dy.values, out.values)
    return out.info
  }
}

function lnShapes (x: number[], shift: number[], scale: number[]): [number, number, number] {
  const [b, t, d] = x
  const ok = x.length === 3 && shift.length === 2 && scale.length === 2 &&
    shift[0] === b && scale[0] === b && shift[1] === d && scale[1] === d
  if (ok) return [b, t, d]
  return unsupported(LAYER_NORM_MODULATE, `expects x [B,T,D], shift and scale [B,D]; got ${x}, ${shift}, ${scale}`)
}

export function layerNormModulate (ctx: KernelContext): NativeKernelFunc {
  return (inputs, backend, attrs) => {
    const x = ctx.input(backend, inputs.x) ?? unsupported(LAYER_NORM_MODULATE, 'inputs must be float32')
    const shift = ctx.input(backend, inputs.shift) ?? unsupported(LAYER_NORM_MODULATE, 'inputs must be float32')
    const scale = ctx.input(backend, inputs.scale) ?? unsupported(LAYER_NORM_MODULATE, 'inputs must be float32')
    const [b, t, d] = lnShapes(x.shape, shift.shape, scale.shape)
    const out = ctx.output(backend, x.shape)
    ctx.addon.layerNormModulate(x.values, shift.values, scale.values, out.values, b, t, d, attrs.eps as number)
    return out.info
  }
}

export function layerNormModulateGrad (ctx: KernelContext): NativeKernelFunc {
  return (inputs, backend, attrs) => {
    const dy = ctx.input(backend, inputs.dy) ?? unsupported(LAYER_NORM_MODULATE_GRAD, 'inputs must be float32')
    const x = ctx.input(backend, inputs.x) ?? unsupported(LAYER_NORM_MODULATE_GRAD, 'inputs must be float32')
    const scale = ctx.input(backend, inputs.scale) ?? unsupported(LAYER_NORM_MODULATE_GRAD, 'inputs must be float32')
    const [b, t, d] = lnShapes(x.shape, scale.shape, scale.shape)
    const dx = ctx.output(backend, x.shape)
    const dshift = ctx.output(backend, scale.shape)
    const dscale = ctx.output(backend, scale.shape)
    ctx.addon.layerNormModulateGrad(
      dy.values, x.values, scale.values, dx.values, dshift.values, dscale.values, b, t, d, attrs.eps as number
    )
    return [dx.info, dshift.info, dscale.info]
  }
}

function attentionShapes (q: number[], k: number[], v: number[], heads: number): [number, number, number, number] {
  const ok = q.length === 3 && k.length === 3 && v.length === 3 && k[0] === q[0] && v[0] === q[0] &&
    k[2] === q[2] && v[2] === q[2] && v[1] === k[1] && Number.isInteger(heads) && heads > 0 && q[2] % heads === 0
  if (ok) return [q[0], q[1], k[1], q[2]]
  const expected = 'expects q [B,T,D], k and v [B,S,D], D divisible by heads'
  return unsupported(ATTENTION, `${expected}; got ${q}, ${k}, ${v}, heads ${heads}`)
}

export function attention (ctx: KernelContext): NativeKernelFunc {
  return (inputs, backend, attrs) => {
    const q = ctx.input(backend, inputs.q) ?? unsupported(ATTENTION, 'inputs must be float32')
    const k = ctx.input(backend, inputs.k) ?? unsupported(ATTENTION, 'inputs must be float32')
    const v = ctx.input(backend, inputs.v) ?? unsupported(ATTENTION, 'inputs must be float32')
    const heads = attrs.heads as number
    const [b, tq, tk, d] = attentionShapes(q.shape, k.shape, v.shape, heads)
    const out = ctx.output(backend, q.shape)
    ctx.addon.attention(q.values, k.values, v.values, out.values, b, tq, tk, d, heads)
    return out.info
  }
}

export function attentionGrad (ctx: KernelContext): NativeKernelFunc {
  return (inputs, backend, attrs) => {
    const [dy, q, k, v] = [inputs.dy, inputs.q, inputs.k, inputs.v]
      .map(t => ctx.input(backend, t) ?? unsupported(ATTENTION_GRAD, 'inputs must be float32'))
    const heads = attrs.heads as number
    const [b, tq, tk, d] = attentionShapes(q.shape, k.shape, v.shape, heads)
    const dq = ctx.output(backend, q.shape)
    const dk = ctx.output(backend, k.shape)
    const dv = ctx.output(backend, v.shape)
    ctx.addon.attentionGrad(
      dy.values, q.values, k.values, v.values, dq.values, dk.values, dv.values, b, tq, tk, d, heads
    )
    return [dq.info, dk.info, dv.info]
  }
}
