/**
 * safetensors (https://github.com/huggingface/safetensors), F32 only:
 *   [u64 little-endian N][N bytes of JSON header, space-padded to 8][tensor data]
 * header: { name: { dtype: 'F32', shape, data_offsets: [begin, end] }, __metadata__: { k: string } }
 * Offsets are relative to the data section; tensors are stored contiguously, in name order,
 * without holes. Files written here load with Python's `safetensors.numpy.load_file` untouched.
 * Decoding checks every bound before reading, so a corrupt or truncated file is a typed
 * error and never a silent partial load.
 */
import { CorruptCheckpointError } from './errors.js'

export interface NamedTensor {
  shape: number[]
  data: Float32Array
}

export interface SafetensorsContents {
  tensors: Map<string, NamedTensor>
  metadata: Record<string, string>
}

/** A header larger than this is not a checkpoint we wrote (guards hostile lengths). */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

export function encodeSafetensors ({ tensors, metadata }: SafetensorsContents): Uint8Array {
  const names = [...tensors.keys()].sort()
  const header: Record<string, unknown> = { __metadata__: metadata }
  let offset = 0
  for (const name of names) {
    const { shape, data } = tensors.get(name) as NamedTensor
    const size = shape.reduce((a, b) => a * b, 1)
    if (size !== data.length) {
      throw new RangeError(`tensor ${name}: shape ${JSON.stringify(shape)} does not hold ${data.length} values`)
    }
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] }
    offset += data.byteLength
  }
  let json = JSON.stringify(header)
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8)
  const headerBytes = Buffer.from(json, 'utf8')
  const out = new Uint8Array(8 + headerBytes.length + offset)
  const view = new DataView(out.buffer)
  view.setBigUint64(0, BigInt(headerBytes.length), true)
  out.set(headerBytes, 8)
  let at = 8 + headerBytes.length
  for (const name of names) {
    const { data } = tensors.get(name) as NamedTensor
    if (isLittleEndian) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at)
    else for (let i = 0; i < data.length; i++) view.setFloat32(at + 4 * i, data[i], true)
    at += data.byteLength
  }
  return out
}

/**
 * The header's JSON length from a file's first 8 bytes; past the file or MAX_HEADER_BYTES it
 * is a CorruptCheckpointError, so a hostile length never sizes an allocation.
 */
export function headerLength (prefix: Uint8Array, fileBytes: number): number {
  if (prefix.length < 8 || fileBytes < 8) {
    throw new CorruptCheckpointError(`${fileBytes} bytes is too short for a safetensors file`)
  }
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true)
  if (length > BigInt(Math.min(MAX_HEADER_BYTES, fileBytes - 8))) {
    const limit = `the file (${fileBytes} bytes) or the ${MAX_HEADER_BYTES}-byte limit`
    throw new CorruptCheckpointError(`header length ${length} exceeds ${limit}`)
  }
  return Number(length)
}

/** The header JSON and its string-valued `__metadata__`. */
export function parseHeader (
  headerBytes: Uint8Array
): { header: Record<string, unknown>, metadata: Record<string, string> } {
  let header: Record<string, unknown>
  try {
    header = JSON.parse(Buffer.from(headerBytes).toString('utf8'))
  } catch {
    throw new CorruptCheckpointError('the header is not valid JSON')
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new CorruptCheckpointError('the header is not a JSON object')
  }
  const metadata: Record<string, string> = {}
  const rawMeta = header.__metadata__
  if (rawMeta !== undefined) {
    if (rawMeta === null || typeof rawMeta !== 'object') {
      throw new CorruptCheckpointError('__metadata__ is not an object')
    }
    for (const [k, v] of Object.entries(rawMeta)) {
      if (typeof v !== 'string') throw new CorruptCheckpointError(`__metadata__.${k} is not a string`)
      metadata[k] = v
    }
  }
  return { header, metadata }
}

/** One tensor's entry in the header, as read (each field checked before use). */
interface HeaderEntry {
  dtype?: unknown
  shape?: unknown
  data_offsets?: unknown
}

export function decodeSafetensors (bytes: Uint8Array): SafetensorsContents {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const dataStart = 8 + headerLength(bytes, bytes.length)
  const { header, metadata } = parseHeader(bytes.subarray(8, dataStart))

  const dataLength = bytes.length - dataStart
  const entries: Array<[string, number[], number, number]> = []
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue
    const { dtype, shape, data_offsets: offsets } = (info ?? {}) as HeaderEntry
    if (dtype !== 'F32') {
      throw new CorruptCheckpointError(`tensor ${name}: dtype ${String(dtype)} is not supported (F32 only)`)
    }
    if (!Array.isArray(shape) || !shape.every(d => Number.isSafeInteger(d) && d >= 0)) {
      throw new CorruptCheckpointError(`tensor ${name}: bad shape`)
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(o => Number.isSafeInteger(o) && o >= 0)) {
      throw new CorruptCheckpointError(`tensor ${name}: bad data_offsets`)
    }
    const [begin, end] = offsets as [number, number]
    const size = (shape as number[]).reduce((a, b) => a * b, 1)
    if (end - begin !== size * 4) {
      throw new CorruptCheckpointError(`tensor ${name}: ${end - begin} bytes for shape ${JSON.stringify(shape)}`)
    }
    if (end > dataLength) {
      const past = `past the file's ${dataLength} data bytes (truncated?)`
      throw new CorruptCheckpointError(`tensor ${name}: data ends at ${end}, ${past}`)
    }
    entries.push([name, shape as number[], begin, end])
  }
  // The format forbids holes and overlaps: sorted by offset, each tensor starts where the last ended.
  entries.sort((a, b) => a[2] - b[2])
  let expected = 0
  for (const [name, , begin, end] of entries) {
    if (begin !== expected) {
      const overlapOrHole = `expected ${expected} (overlap or hole)`
      throw new CorruptCheckpointError(`tensor ${name}: data starts at ${begin}, ${overlapOrHole}`)
    }
    expected = end
  }
  if (expected !== dataLength) {
    throw new CorruptCheckpointError(`${dataLength - expected} trailing bytes after the last tensor`)
  }

  const tensors = new Map<string, NamedTensor>()
  for (const [name, shape, begin, end] of entries) {
    const data = new Float32Array((end - begin) / 4)
    if (isLittleEndian) new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end))
    else for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(dataStart + begin + 4 * i, true)
    tensors.set(name, { shape, data })
  }
  return { tensors, metadata }
}
