import { readFile } from 'node:fs/promises'
import { gunzipSync } from 'node:zlib'
import { AbortError } from '../hddm-error.js'
import { InvalidDatasetError } from './errors.js'
import type { Dataset } from './dataset.js'
import type { AbortOptions } from '../progress.js'

/** A parsed IDX file: u8 data only (the only element type image/label sets use). */
export interface IdxArray {
  dims: number[]
  data: Uint8Array
}

const IDX_UBYTE = 0x08
const GZIP_MAGIC = [0x1f, 0x8b]

/**
 * Parses IDX bytes (LeCun's format: two zero bytes, type code, rank, big-endian u32 dims, data),
 * gunzipping first when the bytes start with the gzip magic.
 */
export function parseIdx (bytes: Uint8Array, source = 'IDX'): IdxArray {
  if (bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1]) {
    try {
      bytes = gunzipSync(bytes)
    } catch (err) {
      throw new InvalidDatasetError(`${source}: corrupt gzip stream (${(err as Error).message})`)
    }
  }
  if (bytes.length < 4) throw new InvalidDatasetError(`${source}: ${bytes.length} bytes is too short for an IDX header`)
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new InvalidDatasetError(`${source}: bad IDX magic`)
  if (bytes[2] !== IDX_UBYTE) {
    throw new InvalidDatasetError(`${source}: IDX element type 0x${bytes[2].toString(16)} is not unsigned byte`)
  }
  const rank = bytes[3]
  if (rank < 1 || rank > 4) throw new InvalidDatasetError(`${source}: IDX rank ${rank} is not 1..4`)
  const headerLength = 4 + 4 * rank
  if (bytes.length < headerLength) throw new InvalidDatasetError(`${source}: truncated IDX header`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const dims: number[] = []
  let size = 1
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i, false)
    dims.push(d)
    size *= d
  }
  if (bytes.length !== headerLength + size) {
    const needed = `IDX dims ${dims.join('x')} need ${headerLength + size} bytes`
    throw new InvalidDatasetError(`${source}: ${needed}, file has ${bytes.length}`)
  }
  return { dims, data: bytes.subarray(headerLength) }
}

export interface IdxPairOptions extends AbortOptions {
  name?: string
  /** Prompt for label i; without it prompts are the decimal labels. */
  classNames?: string[]
}

/** Builds a labelled dataset from an images IDX (N x H x W, or N x H x W x C) and a labels IDX (N). */
export function datasetFromIdx (
  images: IdxArray, labels: IdxArray, options: Omit<IdxPairOptions, 'signal'> = {}
): Dataset {
  const name = options.name ?? 'idx'
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new InvalidDatasetError(`${name}: images IDX must have rank 3 or 4, has ${images.dims.length}`)
  }
  if (labels.dims.length !== 1) {
    throw new InvalidDatasetError(`${name}: labels IDX must have rank 1, has ${labels.dims.length}`)
  }
  const [count, height, width, channels = 1] = images.dims
  if (labels.dims[0] !== count) throw new InvalidDatasetError(`${name}: ${count} images but ${labels.dims[0]} labels`)
  if (width === 0 || height === 0 || channels === 0) {
    throw new InvalidDatasetError(`${name}: empty image dims ${images.dims.join('x')}`)
  }
  const classNames = options.classNames
  const labelArray = Int32Array.from(labels.data)
  const prompts: string[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const l = labelArray[i]
    if (classNames !== undefined && l >= classNames.length) {
      throw new InvalidDatasetError(`${name}: label ${l} at ${i} has no class name (${classNames.length} classes)`)
    }
    prompts[i] = classNames?.[l] ?? String(l)
  }
  // Copy so the dataset does not pin the (possibly much larger) gunzipped buffer.
  const pixels = new Uint8Array(images.data)
  return { name, width, height, channels, count, pixels, labels: labelArray, classNames, prompts }
}

/** Reads an images/labels IDX pair, raw or gzipped. */
export async function readIdxPair (
  imagesPath: string, labelsPath: string, options: IdxPairOptions = {}
): Promise<Dataset> {
  const [images, labels] = await Promise.all([
    readDatasetFile(imagesPath, options),
    readDatasetFile(labelsPath, options)
  ])
  return datasetFromIdx(parseIdx(images, imagesPath), parseIdx(labels, labelsPath), options)
}

/** readFile with a typed error for missing or unreadable files. */
export async function readDatasetFile (path: string, options: AbortOptions = {}): Promise<Uint8Array> {
  try {
    const buf = await readFile(path, { signal: options.signal })
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw new AbortError()
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new InvalidDatasetError(`cannot read ${path}: ${reason}`)
  }
}
