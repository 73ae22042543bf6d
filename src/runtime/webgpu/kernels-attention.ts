/**
 * Multi-head scaled dot-product attention and its gradient as WGSL programs, heads as contiguous
 * slices of the last axis (contract in ../fused-ops.ts). One invocation owns one query row of one
 * head (or, in dk/dv, one key row) and streams the other side through an online softmax, as
 * flash attention does, so no [B, H, T, S] tensor exists in either pass.
 *
 * A workgroup holds rows of one (batch, head) only, and streams the other side's rows through
 * workgroup memory a chunk at a time: each row is read from the buffer once per workgroup, not
 * once per invocation (the forward pass ran 3x faster so on lavapipe). Each invocation keeps its
 * own rows in registers: the WGSL is unrolled over the head size, which is baked into the shader
 * (one compilation per head size and tile).
 *
 * On lavapipe a loop over the streamed rows costs ~4x its unrolled form (measured on the forward
 * pass at the small preset: 39 vs 10 ms), but unrolling would bake the sequence lengths into
 * the shader, one variant per shape, each ~10 s to compile there; the loops stay.
 *
 * Backward, with p = softmax(scale q k^T) recomputed from a per-row logsumexp:
 *   stats[b, h, t] = (lse, delta = dy_t . out_t)                 (one forward sweep per row)
 *   dq_t = scale sum_s p_ts (dy_t . v_s - delta_t) k_s
 *   dk_s = scale sum_t p_ts (dy_t . v_s - delta_t) q_t,   dv_s = sum_t p_ts dy_t
 */
import { ATTENTION } from '../fused-ops.js'
import { ATTENTION_GRAD } from '../fused-gradients.js'
import {
  float32Inputs, floats, ints, program, unsupported, type Uniform, type WebGpuKernelFunc
} from './kernels-program.js'

/** Rows are unrolled into registers (three per invocation): larger heads are refused, not compiled. */
const MAX_HEAD_SIZE = 128

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

/** WGSL statements f(0) .. f(dh - 1), unrolled: the rows live in registers. */
function unroll (dh: number, f: (j: number) => string): string {
  return Array.from({ length: dh }, (_, j) => f(j)).join('\n    ')
}

/** WGSL expression f(0) + .. + f(dh - 1). */
function sum (dh: number, f: (j: number) => string): string {
  return Array.from({ length: dh }, (_, j) => f(j)).join(' + ')
}

/**
 * Rows per workgroup: a power of two from 8 (lavapipe's SIMD width) to 64, about the rows per
 * head. (64 for the 4 prompt keys of cross attention ran its dk and dv several times slower.)
 * Each size is another shader variant, which takes lavapipe seconds to compile, once.
 */
function tileFor (rows: number): number {
  return Math.min(64, Math.max(8, 2 ** Math.ceil(Math.log2(rows))))
}

/** Streamed rows per chunk: two chunks of dh floats plus 64 pairs fit WebGPU's default 16 KiB of workgroup memory. */
function chunkFor (dh: number): number {
  return Math.min(64, Math.floor(1984 / dh))
}

/**
 * WGSL: `bh` (batch * heads + head) of this workgroup and `row`, this invocation's row of `count`
 * rows per (batch, head). Invocations past the end compute on the last row and only skip the
 * write (`valid`): they must reach the barriers.
 */
function tileRow (count: string, dh: number): string {
  return `
    let tiles = (${count} + TILE - 1) / TILE;
    let group = i32((workgroupId.z * numWorkgroups.y + workgroupId.y) * numWorkgroups.x + workgroupId.x);
    let bh = min(group / tiles, uniforms.batch * uniforms.heads - 1);
    let row = min((group % tiles) * TILE + i32(localId.x), ${count} - 1);
    let valid = group / tiles < uniforms.batch * uniforms.heads && (group % tiles) * TILE + i32(localId.x) < ${count};
    let b = bh / uniforms.heads;
    let headOffset = (bh % uniforms.heads) * ${dh};`
}

/** A workgroup-memory copy of `width` floats per streamed row; `source(r, j)` is element j of row r. */
interface Tile { name: string, width: number, source: (r: string, j: string) => string }

function tileDecls (tiles: Tile[], chunk: number): string {
  return tiles.map(t => `var<workgroup> ${t.name} : array<f32, ${chunk * t.width}>;`).join('\n  ')
}

/**
 * WGSL: for each of `count` rows of the other side, chunk by chunk, loads the tiles together and
 * runs `body` with `c` (the row) and `o` (its offset in DH-wide tiles). The chunk loop is uniform.
 */
function stream (count: string, tiles: Tile[], dh: number, body: string): string {
  const loads = tiles.map(t => `
      for (var i = i32(localId.x); i < n * ${t.width}; i += TILE) {
        ${t.name}[i] = ${t.source(`(c0 + i / ${t.width})`, `i % ${t.width}`)};
      }`).join('')
  return `
    for (var c0 = 0; c0 < ${count}; c0 += CHUNK) {
      let n = min(CHUNK, ${count} - c0);
      workgroupBarrier();${loads}
      workgroupBarrier();
      for (var c = 0; c < n; c++) {
        let o = c * ${dh};
        ${body}
      }
    }`
}

/** WGSL: this invocation's query row (b, h, t): offsets, qr_j = scale q_j; `qi` indexes stats. */
function queryRow (dh: number): string {
  return `${tileRow('uniforms.tq', dh)}
    let qi = bh * uniforms.tq + row;
    let qo = (b * uniforms.tq + row) * uniforms.dim + headOffset;
    let kb = b * uniforms.tk * uniforms.dim + headOffset;
    ${unroll(dh, j => `let qr${j} = q[qo + ${j}] * uniforms.scale;`)}`
}

/** Key and value rows of this (batch, head), for programs that sweep the keys. */
const KEY_TILES: Tile[] = [
  { name: 'ks', width: 0, source: (r, j) => `k[kb + ${r} * uniforms.dim + ${j}]` },
  { name: 'vs', width: 0, source: (r, j) => `v[kb + ${r} * uniforms.dim + ${j}]` }
]

/** Query rows, output gradient rows and (lse, delta) of this (batch, head), for dk and dv. */
const QUERY_TILES: Tile[] = [
  { name: 'qs', width: 0, source: (r, j) => `q[qb + ${r} * uniforms.dim + ${j}]` },
  { name: 'dys', width: 0, source: (r, j) => `dy[qb + ${r} * uniforms.dim + ${j}]` },
  { name: 'ss', width: 2, source: (r, j) => `stats[2 * (bh * uniforms.tq + ${r}) + ${j}]` }
]

const widen = (tiles: Tile[], dh: number): Tile[] => tiles.map(t => ({ ...t, width: t.width === 0 ? dh : t.width }))

/** WGSL: online softmax over the keys; leaves the row max m, the sum l and acc_j = sum_s p_s v_sj. */
function onlineSoftmax (dh: number): string {
  return `
    ${unroll(dh, j => `var acc${j} = 0.0;`)}
    var m = -3.0e38;
    var l = 0.0;${stream('uniforms.tk', widen(KEY_TILES, dh), dh, `
        let logit = ${sum(dh, j => `qr${j} * ks[o + ${j}]`)};
        let mNew = max(m, logit);
        let corr = exp(m - mNew);
        let p = exp(logit - mNew);
        l = l * corr + p;
        ${unroll(dh, j => `acc${j} = acc${j} * corr + p * vs[o + ${j}];`)}
        m = mNew;`)}`
}

/** A program over `perHead` rows of each of the `heads` (batch * heads) heads, streaming `tiles`. */
function rowsProgram (key: string, inputs: string[], outputShape: number[], counts: [number, number], dh: number,
  tiles: Tile[], body: string): ReturnType<typeof program> {
  const [heads, perHead] = counts
  const tile = tileFor(perHead)
  const chunk = chunkFor(dh)
  return program({
    key: `${key}_${dh}_${tile}_${chunk}`,
    inputs,
    outputShape,
    workgroup: tile,
    workgroups: heads * Math.ceil(perHead / tile),
    uniforms: UNIFORMS,
    code: `
  const TILE = ${tile};
  const CHUNK = ${chunk};
  ${tileDecls(widen(tiles, dh), chunk)}
  fn main(index : i32) {${body}
  }`
  })
}

export const attention: WebGpuKernelFunc = (inputs, backend, attrs) => {
  const [q, k, v] = float32Inputs(ATTENTION, inputs, ['q', 'k', 'v'])
  const s = attentionShape(ATTENTION, q.shape, k.shape, v.shape, attrs.heads as number)
  const p = rowsProgram('attention', ['q', 'k', 'v'], q.shape, [s.batch * s.heads, s.tq], s.dh, KEY_TILES, `
    ${queryRow(s.dh)}${onlineSoftmax(s.dh)}
    let inv = 1.0 / l;
    if (valid) {
      ${unroll(s.dh, j => `result[qo + ${j}] = acc${j} * inv;`)}
    }`)
  return backend.runWebGPUProgram(p, [q, k, v], 'float32', uniformData(s))
}

export const attentionGrad: WebGpuKernelFunc = (inputs, backend, attrs) => {
  const [dy, q, k, v] = float32Inputs(ATTENTION_GRAD, inputs, ['dy', 'q', 'k', 'v'])
  const s = attentionShape(ATTENTION_GRAD, q.shape, k.shape, v.shape, attrs.heads as number)
  const { dh } = s
  const uniforms = uniformData(s)
  const queries: [number, number] = [s.batch * s.heads, s.tq]

  // [B, H, T, 2]: (logsumexp, dy . out) per query row
  const statsProgram = rowsProgram('attention_stats', ['q', 'k', 'v', 'dy'], [s.batch, s.heads, s.tq, 2], queries,
    dh, KEY_TILES, `${queryRow(dh)}${onlineSoftmax(dh)}
    let delta = ${sum(dh, j => `dy[qo + ${j}] * acc${j}`)};
    if (valid) {
      result[2 * qi] = m + log(l);
      result[2 * qi + 1] = delta / l;
    }`)
  const stats = backend.runWebGPUProgram(statsProgram, [q, k, v, dy], 'float32', uniforms)

  const dqProgram = rowsProgram('attention_dq', ['q', 'k', 'v', 'dy', 'stats'], q.shape, queries, dh, KEY_TILES, `
    ${queryRow(dh)}
    ${unroll(dh, j => `let dyr${j} = dy[qo + ${j}];`)}
    let lse = stats[2 * qi];
    let delta = stats[2 * qi + 1];
    ${unroll(dh, j => `var acc${j} = 0.0;`)}${stream('uniforms.tk', widen(KEY_TILES, dh), dh, `
        ${unroll(dh, j => `let k${j} = ks[o + ${j}];`)}
        let logit = ${sum(dh, j => `qr${j} * k${j}`)};
        let dp = ${sum(dh, j => `dyr${j} * vs[o + ${j}]`)};
        let ds = exp(logit - lse) * (dp - delta);
        ${unroll(dh, j => `acc${j} += ds * k${j};`)}`)}
    if (valid) {
      ${unroll(dh, j => `result[qo + ${j}] = acc${j} * uniforms.scale;`)}
    }`)
  const dq = backend.runWebGPUProgram(dqProgram, [q, k, v, dy, stats], 'float32', uniforms)

  // One invocation per key row (b, h, s), sweeping the queries; dk and dv are separate programs
  // (a program has one output), each recomputing p. Every input a program declares must be read:
  // tfjs binds them all, and WebGPU leaves unread ones out of the pipeline's layout.
  const keyProgram = (key: string, names: string[], own: string, term: string, scale: string):
  ReturnType<typeof program> => rowsProgram(key, names, k.shape, [s.batch * s.heads, s.tk], dh, QUERY_TILES, `
    ${tileRow('uniforms.tk', dh)}
    let ko = (b * uniforms.tk + row) * uniforms.dim + headOffset;
    let qb = b * uniforms.tq * uniforms.dim + headOffset;
    ${unroll(dh, j => `let kr${j} = k[ko + ${j}] * uniforms.scale;`)}
    ${own}
    ${unroll(dh, j => `var acc${j} = 0.0;`)}${stream('uniforms.tq', widen(QUERY_TILES, dh), dh, `
        ${unroll(dh, j => `let q${j} = qs[o + ${j}];`)}
        let p = exp(${sum(dh, j => `kr${j} * q${j}`)} - ss[2 * c]);
        ${term}`)}
    if (valid) {
      ${unroll(dh, j => `result[ko + ${j}] = acc${j}${scale};`)}
    }`)

  const dkProgram = keyProgram('attention_dk', ['q', 'k', 'v', 'dy', 'stats'],
    unroll(dh, j => `let vr${j} = v[ko + ${j}];`), `
        let ds = p * (${sum(dh, j => `dys[o + ${j}] * vr${j}`)} - ss[2 * c + 1]);
        ${unroll(dh, j => `acc${j} += ds * q${j};`)}`, ' * uniforms.scale')
  const dk = backend.runWebGPUProgram(dkProgram, [q, k, v, dy, stats], 'float32', uniforms)
  const dvProgram = keyProgram('attention_dv', ['q', 'k', 'dy', 'stats'], '', `
        ${unroll(dh, j => `acc${j} += p * dys[o + ${j}];`)}`, '')
  const dv = backend.runWebGPUProgram(dvProgram, [q, k, dy, stats], 'float32', uniforms)
  backend.disposeData(stats.dataId)
  return [dq, dk, dv]
}
