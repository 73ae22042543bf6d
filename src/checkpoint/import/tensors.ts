/**
 * Pure float32 rearrangements from PyTorch's layouts to hddm's (docs/MODEL.md, "Importing"):
 *   nn.Linear weight [out, in]             -> ours [in, out]
 *   Conv2d patch embed [D, C, p, p]        -> ours [p*p*C, D], row (pr*p + pc)*C + c: patchify's
 *                                             [B, T, p, p, C] order (layers.ts)
 *   separate q, k, v Linears               -> one [in, 3*out] qkv (or [in, 2*out] kv), q first
 * A TensorSource hands each public tensor out once, checking its shape, so that names left over
 * or missing at the end are a typed refusal rather than a silent partial import.
 */
import { ShapeMismatchError, UnsupportedLayoutError } from '../errors.js'
import type { NamedTensor } from '../safetensors.js'
import type { LinearTensors } from './layout.js'

export class TensorSource {
  private readonly used = new Set<string>()

  constructor (readonly tensors: Map<string, NamedTensor>, readonly layout: string) {}

  has (name: string): boolean {
    return this.tensors.has(name)
  }

  /** The tensor `name`, of exactly `shape` when given; a missing or misshapen one is refused. */
  take (name: string, shape?: number[]): NamedTensor {
    const t = this.tensors.get(name)
    if (t === undefined) throw new UnsupportedLayoutError(`${this.layout} layout: no tensor ${name}`)
    if (shape !== undefined && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      const shapes = `has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(shape)}`
      throw new UnsupportedLayoutError(`${this.layout} layout: tensor ${name} ${shapes}`)
    }
    this.used.add(name)
    return t
  }

  /** A torch Linear `name` (.weight [out, in], .bias [out]) as ours. */
  linear (name: string, inDim: number, outDim: number): LinearTensors {
    const weight = this.take(`${name}.weight`, [outDim, inDim])
    const bias = this.take(`${name}.bias`, [outDim])
    return { weight: transpose(weight), bias }
  }

  /** Several torch Linears of one input, stacked along the output (q, k, v -> qkv). */
  stackedLinear (names: string[], inDim: number, outDim: number): LinearTensors {
    const parts = names.map(n => this.linear(n, inDim, outDim))
    const weight = new Float32Array(inDim * outDim * parts.length)
    for (let i = 0; i < inDim; i++) {
      parts.forEach((p, k) => {
        weight.set(p.weight.data.subarray(i * outDim, (i + 1) * outDim), (i * parts.length + k) * outDim)
      })
    }
    const bias = new Float32Array(outDim * parts.length)
    parts.forEach((p, k) => { bias.set(p.bias.data, k * outDim) })
    const shape = [inDim, outDim * parts.length]
    return { weight: { shape, data: weight }, bias: { shape: [bias.length], data: bias } }
  }

  /** Names not taken and not matched by `ignored`: a layout this importer does not know. */
  refuseLeftovers (ignored: (name: string) => boolean = () => false): void {
    const left = [...this.tensors.keys()].filter(n => !this.used.has(n) && !ignored(n))
    if (left.length > 0) {
      const names = left.slice(0, 5).join(', ') + (left.length > 5 ? `, ... (${left.length} in all)` : '')
      throw new UnsupportedLayoutError(`${this.layout} layout: tensors it does not know: ${names}`)
    }
  }
}

/** [rows, cols] -> [cols, rows]. */
export function transpose (t: NamedTensor): NamedTensor {
  const [rows, cols] = t.shape
  const out = new Float32Array(rows * cols)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c]
  return { shape: [cols, rows], data: out }
}

/** Conv2d weight [D, C, p, p] -> our patch-embedding weight [p*p*C, D]. */
export function patchEmbedWeight (t: NamedTensor): NamedTensor {
  const [D, C, p] = t.shape
  const out = new Float32Array(p * p * C * D)
  for (let d = 0; d < D; d++) {
    for (let c = 0; c < C; c++) {
      for (let pr = 0; pr < p; pr++) {
        for (let pc = 0; pc < p; pc++) out[((pr * p + pc) * C + c) * D + d] = t.data[((d * C + c) * p + pr) * p + pc]
      }
    }
  }
  return { shape: [p * p * C, D], data: out }
}

/**
 * The output columns of a final linear ([D, p*p*2C] weight, [p*p*2C] bias, in (pr, pc, c)
 * order) that carry eps (c < C): DiT's learned-variance channels dropped.
 */
export function epsColumns (w: NamedTensor, b: NamedTensor, channels: number): LinearTensors {
  const [D, outDim] = w.shape
  const keep = Array.from({ length: outDim }, (_, j) => j).filter(j => j % (2 * channels) < channels)
  const weight = new Float32Array(D * keep.length)
  for (let i = 0; i < D; i++) keep.forEach((j, k) => { weight[i * keep.length + k] = w.data[i * outDim + j] })
  return {
    weight: { shape: [D, keep.length], data: weight },
    bias: { shape: [keep.length], data: Float32Array.from(keep, j => b.data[j]) }
  }
}

/** hddm's tensor `name` of exactly `shape`, or a ShapeMismatchError (a checkpoint that is not what its config says). */
export function need (tensors: Map<string, NamedTensor>, name: string, shape: number[]): NamedTensor {
  const t = tensors.get(name)
  if (t === undefined || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeMismatchError(`tensor ${name} is missing or not of shape ${JSON.stringify(shape)}`)
  }
  return t
}
