/**
 * GELU (tanh approximation) and its gradient as WGSL programs, one invocation per element.
 * y = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
 * dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
 */
import { GELU_TANH } from '../fused-ops.js'
import { GELU_TANH_GRAD } from '../fused-gradients.js'
import { float32Inputs, program, sizeOf, type WebGpuKernelFunc } from './kernels-program.js'

const WORKGROUP = 64

// u is clamped: tanh is 1 to float precision well before |u| = 10, and some drivers build tanh
// from exp(2u), which overflows to inf/inf = NaN for large u.
const GELU_COMMON = `
  const SQRT_2_OVER_PI = 0.7978845608028654;
  fn tanhU(x : f32) -> f32 {
    return tanh(clamp(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x), -10.0, 10.0));
  }`

function elementwise (key: string, inputs: string[], shape: number[], body: string): ReturnType<typeof program> {
  const size = sizeOf(shape)
  return program({
    key,
    inputs,
    outputShape: shape,
    workgroup: WORKGROUP,
    workgroups: Math.ceil(size / WORKGROUP),
    size: true,
    code: `${GELU_COMMON}
  fn main(index : i32) {
    if (index < uniforms.size) {
      let xi = x[index];
      let th = tanhU(xi);
      ${body}
    }
  }`
  })
}

export const geluTanh: WebGpuKernelFunc = (inputs, backend) => {
  const [x] = float32Inputs(GELU_TANH, inputs, ['x'])
  const p = elementwise('gelu', ['x'], x.shape, 'result[index] = 0.5 * xi * (1.0 + th);')
  return backend.runWebGPUProgram(p, [x], 'float32')
}

export const geluTanhGrad: WebGpuKernelFunc = (inputs, backend) => {
  const [x, dy] = float32Inputs(GELU_TANH_GRAD, inputs, ['x', 'dy'])
  const p = elementwise('gelu_grad', ['x', 'dy'], x.shape, `
      let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * xi * xi);
      result[index] = dy[index] * (0.5 * (1.0 + th) + 0.5 * xi * (1.0 - th * th) * du);`)
  return backend.runWebGPUProgram(p, [x, dy], 'float32')
}
