/**
 * LayerNorm (no affine) + AdaLN modulation and its gradient as WGSL programs.
 *   y = n (1 + scale[b]) + shift[b],   n = (x - mean) rstd,   rstd = 1 / sqrt(var + eps)
 * Row programs give each token row (b, t) LANES invocations that reduce over D in workgroup
 * memory, mean first and then the centred variance, as tf.moments does. The backward pass keeps
 * per-row (mean, rstd) in a small [B*T, 2] buffer shared by its programs:
 *   dx = rstd (dn - mean_D(dn) - n mean_D(dn n)),  dn = dy (1 + scale)
 *   dshift[b] = sum_t dy,  dscale[b] = sum_t dy n
 */
import { LAYER_NORM_MODULATE } from '../fused-ops.js'
import { LAYER_NORM_MODULATE_GRAD } from '../fused-gradients.js'
import {
  float32Inputs, floats, ints, program, rowSum, unsupported, type WebGpuKernelFunc
} from './kernels-program.js'

const WORKGROUP = 64
/**
 * Invocations per row: a workgroup normalises WORKGROUP / LANES rows. On lavapipe barriers cost
 * more than the arithmetic (64 lanes per row ran ~10x slower than 8 at D = 128); 8 lanes still
 * read 32-byte runs of a row together on a GPU.
 */
const LANES = 8
const ROW_UNIFORMS = 'rows : i32, tokens : i32, dim : i32, eps : f32,'

function lnShapes (name: string, x: number[], shift: number[], scale: number[]): [number, number, number] {
  const [b, t, d] = x
  const ok = x.length === 3 && shift.length === 2 && scale.length === 2 &&
    shift[0] === b && scale[0] === b && shift[1] === d && scale[1] === d
  if (ok) return [b, t, d]
  return unsupported(name, `expects x [B,T,D], shift and scale [B,D]; got ${x}, ${shift}, ${scale}`)
}

// The row of this invocation, clamped so that surplus invocations (the last workgroup's, or a
// workgroup tfjs adds when folding a large dispatch into y and z) still reach the barriers;
// only real rows write.
const ROW_PRELUDE = `
    let lane = localId.x % ${LANES}u;
    let first = localId.x - lane;
    let row = index / ${LANES};
    let r = min(row, uniforms.rows - 1);
    let base = r * uniforms.dim;
    let cond = (r / uniforms.tokens) * uniforms.dim;
    let n = f32(uniforms.dim);`

const FOR_LANE = `for (var d = i32(lane); d < uniforms.dim; d += ${LANES})`

const MEAN_RSTD = `
    var s = 0.0;
    ${FOR_LANE} { s += x[base + d]; }
    let mean = rowSum(s, first) / n;
    var sq = 0.0;
    ${FOR_LANE} { let c = x[base + d] - mean; sq += c * c; }
    let rstd = 1.0 / sqrt(rowSum(sq, first) / n + uniforms.eps);`

function rowProgram (key: string, inputs: string[], outputShape: number[], rows: number, body: string):
ReturnType<typeof program> {
  return program({
    key,
    inputs,
    outputShape,
    workgroup: WORKGROUP,
    workgroups: Math.ceil(rows / (WORKGROUP / LANES)),
    uniforms: ROW_UNIFORMS,
    code: `${rowSum(LANES, WORKGROUP)}
  fn main(index : i32) {${ROW_PRELUDE}${body}
  }`
  })
}

export const layerNormModulate: WebGpuKernelFunc = (inputs, backend, attrs) => {
  const [x, shift, scale] = float32Inputs(LAYER_NORM_MODULATE, inputs, ['x', 'shift', 'scale'])
  const [b, t, d] = lnShapes(LAYER_NORM_MODULATE, x.shape, shift.shape, scale.shape)
  const p = rowProgram('ln_modulate', ['x', 'shift', 'scale'], x.shape, b * t, `${MEAN_RSTD}
    if (row < uniforms.rows) {
      ${FOR_LANE} {
        result[base + d] = (x[base + d] - mean) * rstd * (1.0 + scale[cond + d]) + shift[cond + d];
      }
    }`)
  const uniforms = [...ints(b * t, t, d), ...floats(attrs.eps as number)]
  return backend.runWebGPUProgram(p, [x, shift, scale], 'float32', uniforms)
}

export const layerNormModulateGrad: WebGpuKernelFunc = (inputs, backend, attrs) => {
  const [dy, x, scale] = float32Inputs(LAYER_NORM_MODULATE_GRAD, inputs, ['dy', 'x', 'scale'])
  const [b, t, d] = lnShapes(LAYER_NORM_MODULATE_GRAD, x.shape, scale.shape, scale.shape)
  const uniforms = [...ints(b * t, t, d), ...floats(attrs.eps as number)]

  // [B*T, 2]: (mean, rstd) per row
  const statsProgram = rowProgram('ln_stats', ['x'], [b * t, 2], b * t, `${MEAN_RSTD}
    if (row < uniforms.rows && lane == 0u) {
      result[2 * row] = mean;
      result[2 * row + 1] = rstd;
    }`)
  const stats = backend.runWebGPUProgram(statsProgram, [x], 'float32', uniforms)

  const dxProgram = rowProgram('ln_modulate_dx', ['dy', 'x', 'scale', 'stats'], x.shape, b * t, `
    let mean = stats[2 * r];
    let rstd = stats[2 * r + 1];
    var s1 = 0.0;
    var s2 = 0.0;
    ${FOR_LANE} {
      let dn = dy[base + d] * (1.0 + scale[cond + d]);
      s1 += dn;
      s2 += dn * (x[base + d] - mean) * rstd;
    }
    let m1 = rowSum(s1, first) / n;
    let m2 = rowSum(s2, first) / n;
    if (row < uniforms.rows) {
      ${FOR_LANE} {
        let dn = dy[base + d] * (1.0 + scale[cond + d]);
        result[base + d] = rstd * (dn - m1 - (x[base + d] - mean) * rstd * m2);
      }
    }`)
  const dx = backend.runWebGPUProgram(dxProgram, [dy, x, scale, stats], 'float32', uniforms)

  // [B, D] column sums over tokens, one invocation per (b, d)
  const columnSum = (key: string, names: string[], term: string): ReturnType<typeof program> => program({
    key,
    inputs: names,
    outputShape: [b, d],
    workgroup: WORKGROUP,
    workgroups: Math.ceil(b * d / WORKGROUP),
    uniforms: ROW_UNIFORMS,
    code: `
  fn main(index : i32) {
    if (index < uniforms.rows / uniforms.tokens * uniforms.dim) {
      let col = index % uniforms.dim;
      let first = index / uniforms.dim * uniforms.tokens;
      var acc = 0.0;
      for (var t = 0; t < uniforms.tokens; t++) {
        let row = first + t;
        let i = row * uniforms.dim + col;
        acc += ${term};
      }
      result[index] = acc;
    }
  }`
  })
  const dshift = backend.runWebGPUProgram(columnSum('ln_modulate_dshift', ['dy'], 'dy[i]'), [dy], 'float32', uniforms)
  const dscale = backend.runWebGPUProgram(
    columnSum('ln_modulate_dscale', ['dy', 'x', 'stats'], 'dy[i] * (x[i] - stats[2 * row]) * stats[2 * row + 1]'),
    [dy, x, stats], 'float32', uniforms
  )
  backend.disposeData(stats.dataId)
  return [dx, dshift, dscale]
}
