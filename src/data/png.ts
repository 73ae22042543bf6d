import { inflateSync } from 'node:zlib'
import { convertIndexedToRgb, decode, encode, type DecodedPng } from 'fast-png'
import { HddmError, InvalidArgumentError } from '../hddm-error.js'
import { InvalidPngError } from './errors.js'

/**
 * PNG bytes <-> 8-bit pixels on fast-png, which parses the chunks, checks CRCs, inflates,
 * unfilters and undoes Adam7 interlacing. What this wrapper adds, because callers rely on it:
 * - the inflated size is capped at what the header implies before fast-png inflates (fast-png
 *   inflates every IDAT without a bound, and a sample server's few-KB image could inflate to GBs);
 * - pixels come out as 8-bit channels: palette -> RGB(A), a tRNS key colour -> alpha, 1/2/4-bit
 *   gray scaled to 0-255, 16-bit -> the high byte;
 * - every bad input throws InvalidPngError (fast-png throws plain Errors).
 * Encode: 8-bit gray, gray+alpha, RGB or RGBA (fast-png writes filter None on every row).
 */
export interface RawImage {
  width: number
  height: number
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  channels: number
  /** H*W*C bytes, row-major, channels last. */
  pixels: Uint8Array
}

const SAMPLES_OF_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }
const MAX_PIXELS = 1 << 26
/** Adam7 passes: [x0, y0, dx, dy]. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]

interface PngHeader {
  width: number
  height: number
  depth: number
  colorType: number
  interlaced: boolean
}

export function encodePng (image: RawImage): Uint8Array {
  const { width, height, channels, pixels } = image
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new InvalidArgumentError(`PNG size must be positive integers, got ${width}x${height}`)
  }
  if (!(channels >= 1 && channels <= 4 && Number.isInteger(channels))) {
    throw new InvalidArgumentError(`PNG channels must be 1-4, got ${channels}`)
  }
  if (pixels.length !== width * height * channels) {
    throw new InvalidArgumentError(`${pixels.length} bytes for a ${width}x${height}x${channels} image`)
  }
  // fast-png returns a view into its growable buffer: copy, so `.buffer` holds only the PNG.
  return encode({ width, height, channels, depth: 8, data: pixels }, { zlib: { level: 9 } }).slice()
}

export function decodePng (bytes: Uint8Array): RawImage {
  const header = readHeader(bytes)
  checkImageDataLength(bytes, header)
  try {
    const png = decode(bytes, { checkCrc: true })
    if (png.width !== header.width || png.height !== header.height || png.depth !== header.depth) {
      throw new InvalidPngError('a second IHDR chunk disagrees with the first')
    }
    return toRawImage(png, header)
  } catch (err) {
    if (err instanceof HddmError) throw err
    throw new InvalidPngError(`corrupt PNG: ${(err as Error).message}`)
  }
}

/** The IHDR chunk, which the PNG spec puts first; refuses what the rest cannot decode. */
function readHeader (bytes: Uint8Array): PngHeader {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
  if (bytes.length < 8 || !signature.every((b, i) => bytes[i] === b)) {
    throw new InvalidPngError('not a PNG (bad signature)')
  }
  if (bytes.length < 33) throw new InvalidPngError('truncated before the end of IHDR')
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (v.getUint32(8) !== 13 || chunkType(bytes, 8) !== 'IHDR') throw new InvalidPngError('the first chunk is not IHDR')
  const h: PngHeader = {
    width: v.getUint32(16), height: v.getUint32(20), depth: bytes[24], colorType: bytes[25], interlaced: bytes[28] === 1
  }
  if (bytes[26] !== 0 || bytes[27] !== 0) throw new InvalidPngError('unknown compression or filter method')
  if (bytes[28] > 1) throw new InvalidPngError(`unknown interlace method ${bytes[28]}`)
  const validDepth = h.colorType === 0 ? [1, 2, 4, 8, 16] : h.colorType === 3 ? [1, 2, 4, 8] : [8, 16]
  if (SAMPLES_OF_COLOR_TYPE[h.colorType] === undefined || !validDepth.includes(h.depth)) {
    throw new InvalidPngError(`unsupported color type ${h.colorType} with bit depth ${h.depth}`)
  }
  // fast-png's Adam7 path sizes pixels in whole bytes, so it misreads packed 1/2/4-bit passes.
  if (h.interlaced && h.depth < 8) {
    throw new InvalidPngError('interlaced PNGs under 8 bits per sample are not supported')
  }
  if (h.width < 1 || h.height < 1 || h.width * h.height > MAX_PIXELS) {
    throw new InvalidPngError(`unsupported size ${h.width}x${h.height}`)
  }
  return h
}

/**
 * Inflates the IDAT stream with its output capped at the length the header implies, and refuses
 * any other length: the decompression-bomb guard fast-png lacks. Costs a second inflate, which
 * is small next to the images we read (digits, sample grids).
 */
function checkImageDataLength (bytes: Uint8Array, h: PngHeader): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const idat: Uint8Array[] = []
  for (let o = 8; ;) {
    if (o + 12 > bytes.length) throw new InvalidPngError('truncated chunk, or no IEND')
    const length = v.getUint32(o)
    const type = chunkType(bytes, o)
    if (o + 12 + length > bytes.length) throw new InvalidPngError(`truncated ${type} chunk`)
    if (type === 'IEND') break
    if (type === 'IDAT') idat.push(bytes.subarray(o + 8, o + 8 + length))
    o += 12 + length
  }
  const expected = rawLength(h)
  let raw: Uint8Array
  try {
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: expected })
  } catch {
    throw new InvalidPngError('corrupt image data, or more of it than the header declares')
  }
  if (raw.length !== expected) throw new InvalidPngError('image data has the wrong length')
}

/** Bytes of filtered scanlines (one filter byte per row) the header implies, per Adam7 pass if interlaced. */
function rawLength (h: PngHeader): number {
  const bits = SAMPLES_OF_COLOR_TYPE[h.colorType] * h.depth
  const rows = (width: number, height: number): number => height * (1 + Math.ceil((width * bits) / 8))
  if (!h.interlaced) return rows(h.width, h.height)
  return ADAM7.reduce((n, [x0, y0, dx, dy]) => {
    const w = Math.ceil((h.width - x0) / dx)
    const hh = Math.ceil((h.height - y0) / dy)
    return w > 0 && hh > 0 ? n + rows(w, hh) : n
  }, 0)
}

/** fast-png's samples as 8-bit channels; `h` is the header, as fast-png does not report the colour type. */
function toRawImage (png: DecodedPng, h: PngHeader): RawImage {
  const { width, height, depth } = h
  if (h.colorType === 3) {
    if (png.palette === undefined || png.palette.length === 0) throw new InvalidPngError('palette image without PLTE')
    // Entries carry alpha exactly when there is a tRNS chunk.
    return { width, height, channels: png.palette[0].length, pixels: convertIndexedToRgb(png) }
  }
  const samples = SAMPLES_OF_COLOR_TYPE[h.colorType]
  const key = h.colorType === 0 || h.colorType === 2 ? png.transparency : undefined
  if (depth === 8 && key === undefined) return { width, height, channels: samples, pixels: png.data as Uint8Array }
  const channels = samples + (key !== undefined ? 1 : 0)
  const stride = Math.ceil((width * depth) / 8)
  const data = png.data
  // Packed 1/2/4-bit gray: pixel x of row y sits in the high bits first.
  const sample = depth >= 8
    ? (p: number, c: number) => data[p * samples + c]
    : (p: number) => {
        const x = p % width
        const bit = x * depth
        return (data[Math.floor(p / width) * stride + (bit >> 3)] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1)
      }
  const max = (1 << depth) - 1
  const to8 = depth === 16
    ? (v: number) => v >> 8
    : depth === 8 ? (v: number) => v : (v: number) => Math.round(v * 255 / max)
  const pixels = new Uint8Array(width * height * channels)
  for (let p = 0; p < width * height; p++) {
    let transparent = key !== undefined
    for (let c = 0; c < samples; c++) {
      const v = sample(p, c)
      pixels[p * channels + c] = to8(v)
      if (key !== undefined && key[c] !== v) transparent = false
    }
    if (key !== undefined) pixels[p * channels + samples] = transparent ? 0 : 255
  }
  return { width, height, channels, pixels }
}

function chunkType (bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(...bytes.subarray(offset + 4, offset + 8))
}

/** Images of one size, HWC; floats are model outputs in [-1, 1] (clamped), bytes are 0-255. */
export interface ImageBatch {
  width: number
  height: number
  channels: number
  pixels: Uint8Array | Float32Array
}

export interface ImageGridOptions {
  /** Default ceil(sqrt(N)). */
  cols?: number
  /** Default ceil(N / cols); only the first rows*cols images are drawn. */
  rows?: number
  /** Pixels between and around tiles (default 2). */
  padding?: number
  /** Gray level of the padding (default 0). */
  background?: number
  /** Integer nearest-neighbour upscaling of every tile (default 1). */
  scale?: number
}

/** A PNG contact sheet of a batch of images (e.g. samples per prompt, images per cluster). */
export function imageGrid (images: ImageBatch, options: ImageGridOptions = {}): Uint8Array {
  const { width: w, height: h, channels: C, pixels } = images
  const size = w * h * C
  const count = size > 0 ? pixels.length / size : NaN
  if (!Number.isInteger(count) || count < 1) {
    throw new InvalidArgumentError(`${pixels.length} values are not a whole number of ${w}x${h}x${C} images`)
  }
  const cols = options.cols ?? Math.ceil(Math.sqrt(count))
  const rows = options.rows ?? Math.ceil(count / cols)
  const pad = options.padding ?? 2
  const scale = options.scale ?? 1
  for (const [k, v] of Object.entries({ cols, rows, scale })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new InvalidArgumentError(`imageGrid ${k} must be a positive integer, got ${v}`)
    }
  }
  if (!Number.isInteger(pad) || pad < 0) {
    throw new InvalidArgumentError(`imageGrid padding must be a non-negative integer, got ${pad}`)
  }
  const tw = w * scale
  const th = h * scale
  const W = cols * (tw + pad) + pad
  const H = rows * (th + pad) + pad
  const out = new Uint8Array(W * H * C).fill(options.background ?? 0)
  const toByte = pixels instanceof Float32Array
    ? (v: number) => Math.min(255, Math.max(0, Math.round((v + 1) * 127.5)))
    : (v: number) => v
  for (let n = 0; n < Math.min(count, rows * cols); n++) {
    const ox = pad + (n % cols) * (tw + pad)
    const oy = pad + Math.floor(n / cols) * (th + pad)
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const s = n * size + (Math.floor(y / scale) * w + Math.floor(x / scale)) * C
        const d = ((oy + y) * W + ox + x) * C
        for (let c = 0; c < C; c++) out[d + c] = toByte(pixels[s + c])
      }
    }
  }
  return encodePng({ width: W, height: H, channels: C, pixels: out })
}
