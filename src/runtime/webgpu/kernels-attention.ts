/**
 * Multi-head scaled dot-product attention and its gradient as WGSL programs, heads as contiguous
 * slices of the last axis (contract in ../fused-ops.ts). One invocation owns one query row of one
 * head (or, in dk/dv, one key row) and streams the other side through an online softmax, as
 * flash attention does, so no [B, H, T, S] tensor exists in either pass. The head size is baked
 * into the shader (its rows live in private arrays), so each head size compiles once.
 *
 * Backward, with p = softmax(scale q k^T) recomputed from a per-row logsumexp:
 *   stats[b, h, t] = (lse, delta = dy_t . out_t)                 (one forward sweep per row)
 *   dq_t = scale sum_s p_ts (dy_t . v_s - delta_t) k_s
 *   dk_s = scale sum_t p_ts (dy_t . v_s - delta_t) q_t,   dv_s = sum_t p_ts dy_t
 */
import { ATTENTION } from '../fused-ops.js'
import { ATTENTION_GRAD } from '../native/kernels-fused.js'
import {
  float32Inputs, floats, ints, program, unsupported, type Uniform, type WebGpuKernelFunc
} from './kernels-program.js'

const WORKGROUP = 64
/** Private arrays of this many floats per row, three per invocation; larger heads are refused. */
const MAX_HEAD_SIZE = 256

interface AttentionShape { batch: number, tq: number, tk: number, dim: number, heads: number, dh: number }

function attentionShape (name: string, q: number[], k: number[], v: number[], heads: number): AttentionShape {
  const ok = q.length === 3 && k.length === 3 && v.length === 3 && k[0] === q[0] && v[0] === q[0] &&
    k[2] === q[2] && v[2] === q[2] && v[1] === k[1] && Number.isInteger(heads) && heads > 0 && q[2] % heads === 0
  if (!ok) {
    const expected = 'expects q [B,T,D], k and v [B,S,D], D divisible by heads'
    return unsupported(name, `${expected}; got ${q}, ${k}, ${v}, heads ${heads}`)
  }
  const dh = q[2] / heads
  if (dh > MAX_HEAD_SIZE) unsupported(name, `head size ${dh} is above ${MAX_HEAD_SIZE}`)
  return { batch: q[0], tq: q[1], tk: k[1], dim: q[2], heads, dh }
}

const UNIFORMS = 'batch : i32, tq : i32, tk : i32, dim : i32, heads : i32, scale : f32,'

function uniformData (s: AttentionShape): Uniform[] {
  return [...ints(s.batch, s.tq, s.tk, s.dim, s.heads), ...floats(1 / Math.sqrt(s.dh))]
}

const FOR_J = 'for (var j = 0; j < DH; j++)'

/** WGSL: this invocation's query row (b, h, t): offsets, and qr = scale * q row. */
const QUERY_ROW = `
    if (index >= uniforms.batch * uniforms.heads * uniforms.tq) { return; }
    let t = index % uniforms.tq;
    let bh = index / uniforms.tq;
    let b = bh / uniforms.heads;
    let qo = (b * uniforms.tq + t) * uniforms.dim + (bh % uniforms.heads) * DH;
    let kb = b * uniforms.tk * uniforms.dim + (bh % uniforms.heads) * DH;
    var qr : array<f32, DH>;
    ${FOR_J} { qr[j] = q[qo + j] * uniforms.scale; }`

/** WGSL: online softmax over the keys; leaves the row max m, the sum l and acc = sum p v. */
const ONLINE_SOFTMAX = `
    var acc : array<f32, DH>;
    var m = -3.0e38;
    var l = 0.0;
    for (var s = 0; s < uniforms.tk; s++) {
      let ko = kb + s * uniforms.dim;
      var logit = 0.0;
      ${FOR_J} { logit += qr[j] * k[ko + j]; }
      let mNew = max(m, logit);
      let corr = exp(m - mNew);
      let p = exp(logit - mNew);
      l = l * corr + p;
      ${FOR_J} { acc[j] = acc[j] * corr + p * v[ko + j]; }
      m = mNew;
    }`

function rowsProgram (key: string, inputs: string[], outputShape: number[], rows: number, dh: number, body: string):
ReturnType<typeof program> {
  return program({
    key: `${key}_${dh}`,
    inputs,
    outputShape,
    workgroup: WORKGROUP,
    workgroups: Math.ceil(rows / WORKGROUP),
    uniforms: UNIFORMS,
    code: `
  const DH = ${dh};
  fn main(index : i32) {${body}
  }`
  })
}

export const attention: WebGpuKernelFunc = (inputs, backend, attrs) => {
  const [q, k, v] = float32Inputs(ATTENTION, inputs, ['q', 'k', 'v'])
  const s = attentionShape(ATTENTION, q.shape, k.shape, v.shape, attrs.heads as number)
  const rows = s.batch * s.heads * s.tq
  const p = rowsProgram('attention', ['q', 'k', 'v'], q.shape, rows, s.dh, `${QUERY_ROW}${ONLINE_SOFTMAX}
    let inv = 1.0 / l;
    ${FOR_J} { result[qo + j] = acc[j] * inv; }`)
  return backend.runWebGPUProgram(p, [q, k, v], 'float32', uniformData(s))
}

export const attentionGrad: WebGpuKernelFunc = (inputs, backend, attrs) => {
  const [dy, q, k, v] = float32Inputs(ATTENTION_GRAD, inputs, ['dy', 'q', 'k', 'v'])
  const s = attentionShape(ATTENTION_GRAD, q.shape, k.shape, v.shape, attrs.heads as number)
  const uniforms = uniformData(s)
  const queryRows = s.batch * s.heads * s.tq
  const keyRows = s.batch * s.heads * s.tk

  // [B, H, T, 2]: (logsumexp, dy . out) per query row
  const statsProgram = rowsProgram('attention_stats', ['q', 'k', 'v', 'dy'], [s.batch, s.heads, s.tq, 2],
    queryRows, s.dh, `${QUERY_ROW}${ONLINE_SOFTMAX}
    var delta = 0.0;
    ${FOR_J} { delta += dy[qo + j] * acc[j]; }
    result[2 * index] = m + log(l);
    result[2 * index + 1] = delta / l;`)
  const stats = backend.runWebGPUProgram(statsProgram, [q, k, v, dy], 'float32', uniforms)

  const dqProgram = rowsProgram('attention_dq', ['q', 'k', 'v', 'dy', 'stats'], q.shape, queryRows, s.dh, `${QUERY_ROW}
    var dyr : array<f32, DH>;
    ${FOR_J} { dyr[j] = dy[qo + j]; }
    let lse = stats[2 * index];
    let delta = stats[2 * index + 1];
    var acc : array<f32, DH>;
    for (var s = 0; s < uniforms.tk; s++) {
      let ko = kb + s * uniforms.dim;
      var logit = 0.0;
      var dp = 0.0;
      ${FOR_J} {
        logit += qr[j] * k[ko + j];
        dp += dyr[j] * v[ko + j];
      }
      let ds = exp(logit - lse) * (dp - delta);
      ${FOR_J} { acc[j] += ds * k[ko + j]; }
    }
    ${FOR_J} { result[qo + j] = acc[j] * uniforms.scale; }`)
  const dq = backend.runWebGPUProgram(dqProgram, [q, k, v, dy, stats], 'float32', uniforms)

  // One invocation per key row (b, h, s), sweeping the queries; dk and dv are separate programs
  // (a program has one output), each recomputing p.
  const keyProgram = (key: string, term: string, finish: string): ReturnType<typeof program> =>
    rowsProgram(key, ['q', 'k', 'v', 'dy', 'stats'], k.shape, keyRows, s.dh, `
    if (index >= uniforms.batch * uniforms.heads * uniforms.tk) { return; }
    let bh = index / uniforms.tk;
    let b = bh / uniforms.heads;
    let ko = (b * uniforms.tk + index % uniforms.tk) * uniforms.dim + (bh % uniforms.heads) * DH;
    let qb = b * uniforms.tq * uniforms.dim + (bh % uniforms.heads) * DH;
    var kr : array<f32, DH>;
    var vr : array<f32, DH>;
    ${FOR_J} {
      kr[j] = k[ko + j] * uniforms.scale;
      vr[j] = v[ko + j];
    }
    var acc : array<f32, DH>;
    for (var t = 0; t < uniforms.tq; t++) {
      let qo = qb + t * uniforms.dim;
      let si = 2 * (bh * uniforms.tq + t);
      var logit = 0.0;
      ${FOR_J} { logit += kr[j] * q[qo + j]; }
      let p = exp(logit - stats[si]);
      ${term}
    }
    ${FOR_J} { result[ko + j] = ${finish}; }`)

  const dkProgram = keyProgram('attention_dk', `
      var dp = 0.0;
      ${FOR_J} { dp += dy[qo + j] * vr[j]; }
      let ds = p * (dp - stats[si + 1]);
      ${FOR_J} { acc[j] += ds * q[qo + j]; }`, 'acc[j] * uniforms.scale')
  const dk = backend.runWebGPUProgram(dkProgram, [q, k, v, dy, stats], 'float32', uniforms)
  const dvProgram = keyProgram('attention_dv', `
      ${FOR_J} { acc[j] += p * dy[qo + j]; }`, 'acc[j]')
  const dv = backend.runWebGPUProgram(dvProgram, [q, k, v, dy, stats], 'float32', uniforms)
  backend.disposeData(stats.dataId)
  return [dq, dk, dv]
}
