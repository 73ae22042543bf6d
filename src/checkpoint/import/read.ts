/**
 * Reads a public safetensors file (diffusers, PixArt, or the converter script's output) as
 * float32 tensors. Public weights come as F32, F16 or BF16 (F64 is widened too); anything else
 * (integer buffers) is an UnsupportedLayoutError. Tensors are read one by one at their offsets,
 * after every entry of the header has been checked against the file's size, so a hostile header
 * never sizes an allocation, and files above Node's 2 GiB readFile limit (DiT-XL/2 in F32 is
 * 2.7 GB) read as well.
 */
import { open } from 'node:fs/promises'
import { CheckpointNotFoundError, CorruptCheckpointError, UnsupportedLayoutError } from '../errors.js'
import { readSafetensorsHeader } from '../file.js'
import type { NamedTensor } from '../safetensors.js'

const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2 }

interface Entry {
  name: string
  dtype: string
  shape: number[]
  begin: number
  end: number
}

export interface FloatSafetensors {
  tensors: Map<string, NamedTensor>
  metadata: Record<string, string>
  /** dtype -> number of tensors stored in it, for the import's report. */
  dtypes: Record<string, number>
}

export async function readFloatSafetensors (path: string): Promise<FloatSafetensors> {
  let file
  try {
    file = await open(path, 'r')
  } catch (err) {
    throw new CheckpointNotFoundError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  try {
    const { parsed: { header, metadata }, dataStart, dataLength } = await readSafetensorsHeader(file)
    const entries = checkedEntries(header, dataLength)
    const tensors = new Map<string, NamedTensor>()
    const dtypes: Record<string, number> = {}
    for (const e of entries) {
      const raw = Buffer.alloc(e.end - e.begin)
      await file.read(raw, 0, raw.length, dataStart + e.begin)
      tensors.set(e.name, { shape: e.shape, data: toFloat32(raw, e.dtype) })
      dtypes[e.dtype] = (dtypes[e.dtype] ?? 0) + 1
    }
    return { tensors, metadata, dtypes }
  } finally {
    await file.close()
  }
}

/** Every entry's dtype, shape and offsets, checked against the data section's length. */
function checkedEntries (header: Record<string, unknown>, dataLength: number): Entry[] {
  const entries: Entry[] = []
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue
    const { dtype, shape, data_offsets: offsets } = (info ?? {}) as Record<string, unknown>
    if (typeof dtype !== 'string' || BYTES[dtype] === undefined) {
      throw new UnsupportedLayoutError(`tensor ${name}: dtype ${String(dtype)} (expected F32, F16, BF16 or F64)`)
    }
    if (!Array.isArray(shape) || !shape.every(d => Number.isSafeInteger(d) && d >= 0)) {
      throw new CorruptCheckpointError(`tensor ${name}: bad shape`)
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(o => Number.isSafeInteger(o) && o >= 0)) {
      throw new CorruptCheckpointError(`tensor ${name}: bad data_offsets`)
    }
    const [begin, end] = offsets as [number, number]
    const values = (shape as number[]).reduce((a, b) => a * b, 1)
    if (end - begin !== values * BYTES[dtype] || end > dataLength) {
      const holds = `do not hold ${JSON.stringify(shape)} ${dtype} within the file's ${dataLength} data bytes`
      throw new CorruptCheckpointError(`tensor ${name}: bytes [${begin}, ${end}) ${holds}`)
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end })
  }
  return entries
}

/** Little-endian F64 / F32 / F16 / BF16 bytes -> float32 values. */
function toFloat32 (raw: Buffer, dtype: string): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
  const n = raw.length / BYTES[dtype]
  const out = new Float32Array(n)
  if (dtype === 'F32') for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true)
  else if (dtype === 'F64') for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true)
  else if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    const bits = new Uint32Array(out.buffer)
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true))
  }
  return out
}

/** IEEE 754 binary16 -> number (subnormals, infinities and NaN included). */
export function halfToFloat (h: number): number {
  const sign = (h & 0x8000) !== 0 ? -1 : 1
  const exponent = (h >> 10) & 0x1f
  const fraction = h & 0x3ff
  if (exponent === 0) return sign * fraction * 2 ** -24
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15)
}
