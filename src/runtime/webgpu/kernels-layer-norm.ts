/**
 * LayerNorm (no affine) + AdaLN modulation and its gradient as WGSL programs.
 *   y = n (1 + scale[b]) + shift[b],   n = (x - mean) rstd,   rstd = 1 / sqrt(var + eps)
 * Row programs run one workgroup per token row (b, t) and reduce over D in workgroup memory,
 * mean first and then the centred variance, as tf.moments does. The backward pass keeps
 * per-row (mean, rstd) in a small [B*T, 2] buffer shared by its programs:
 *   dx = rstd (dn - mean_D(dn) - n mean_D(dn n)),  dn = dy (1 + scale)
 *   dshift[b] = sum_t dy,  dscale[b] = sum_t dy n
 */
import { LAYER_NORM_MODULATE } from '../fused-ops.js'
import { LAYER_NORM_MODULATE_GRAD } from '../native/kernels-fused.js'
import {
  float32Inputs, floats, ints, program, unsupported, workgroupSum, type WebGpuKernelFunc
} from './kernels-program.js'

const WORKGROUP = 64
const ROW_UNIFORMS = 'rows : i32, tokens : i32, dim : i32, eps : f32,'

function lnShapes (name: string, x: number[], shift: number[], scale: number[]): [number, number, number] {
  const [b, t, d] = x
  const ok = x.length === 3 && shift.length === 2 && scale.length === 2 &&
    shift[0] === b && scale[0] === b && shift[1] === d && scale[1] === d
  if (ok) return [b, t, d]
  return unsupported(name, `expects x [B,T,D], shift and scale [B,D]; got ${x}, ${shift}, ${scale}`)
}

// The row of this workgroup, clamped so that a surplus workgroup (tfjs may round the dispatch up
// when folding it into y and z) still reaches the barriers; only real rows write.
const ROW_PRELUDE = `
    let lane = localId.x;
    let row = index / ${WORKGROUP};
    let r = min(row, uniforms.rows - 1);
    let base = r * uniforms.dim;
    let cond = (r / uniforms.tokens) * uniforms.dim;
    let n = f32(uniforms.dim);`

const FOR_LANE = `for (var d = i32(lane); d < uniforms.dim; d += ${WORKGROUP})`

const MEAN_RSTD = `
    var s = 0.0;
    ${FOR_LANE} { s += x[base + d]; }
    let mean = wgSum(s, lane) / n;
    var sq = 0.0;
    ${FOR_LANE} { let c = x[base + d] - mean; sq += c * c; }
    let rstd = 1.0 / sqrt(wgSum(sq, lane) / n + uniforms.eps);`

function rowProgram (key: string, inputs: string[], outputShape: number[], rows: number, body: string):
ReturnType<typeof program> {
  return program({
    key,
    inputs,
    outputShape,
    workgroup: WORKGROUP,
    workgroups: rows,
    uniforms: ROW_UNIFORMS,
    code: `${workgroupSum(WORKGROUP)}
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
    let m1 = wgSum(s1, lane) / n;
    let m2 = wgSum(s2, lane) / n;
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
