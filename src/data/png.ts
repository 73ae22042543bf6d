import { crc32, deflateSync, inflateSync } from 'node:zlib'
import { InvalidArgumentError } from '../hddm-error.js'
import { InvalidPngError } from './errors.js'

/**
 * A small PNG codec on node:zlib (no dependency): enough for datasets and sample grids.
 * Encode: 8-bit gray, gray+alpha, RGB or RGBA. Decode: every non-interlaced PNG (bit depths
 * 1-16, gray, RGB, palette, with alpha or tRNS, all five filters), 16-bit reduced to 8.
 */
export interface RawImage {
  width: number
  height: number
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  channels: number
  /** H*W*C bytes, row-major, channels last. */
  pixels: Uint8Array
}

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)
const COLOR_TYPE_OF_CHANNELS = [-1, 0, 4, 2, 6]
const CHANNELS_OF_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }
const MAX_PIXELS = 1 << 26

interface PngHeader {
  width: number
  height: number
  depth: number
  colorType: number
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
  const stride = width * channels
  // Filter "Up" on every row but the first: cheap and compresses smooth images well.
  const raw = new Uint8Array(height * (stride + 1))
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1)
    const row = pixels.subarray(y * stride, (y + 1) * stride)
    if (y === 0) {
      raw[o] = 0
      raw.set(row, o + 1)
      continue
    }
    raw[o] = 2
    const prev = pixels.subarray((y - 1) * stride, y * stride)
    for (let i = 0; i < stride; i++) raw[o + 1 + i] = (row[i] - prev[i]) & 0xff
  }
  const ihdr = new Uint8Array(13)
  const v = new DataView(ihdr.buffer)
  v.setUint32(0, width)
  v.setUint32(4, height)
  ihdr[8] = 8
  ihdr[9] = COLOR_TYPE_OF_CHANNELS[channels]
  const idat = chunk('IDAT', deflateSync(raw, { level: 9 }))
  return concat([SIGNATURE, chunk('IHDR', ihdr), idat, chunk('IEND', new Uint8Array(0))])
}

export function decodePng (bytes: Uint8Array): RawImage {
  if (bytes.length < 8 || !SIGNATURE.every((b, i) => bytes[i] === b)) {
    throw new InvalidPngError('not a PNG (bad signature)')
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let header: PngHeader | undefined
  let palette: Uint8Array | undefined
  let transparency: Uint8Array | undefined
  const idat: Uint8Array[] = []
  let o = 8
  let ended = false
  while (o < bytes.length && !ended) {
    if (o + 12 > bytes.length) throw new InvalidPngError('truncated chunk')
    const length = view.getUint32(o)
    const type = String.fromCharCode(...bytes.subarray(o + 4, o + 8))
    if (o + 12 + length > bytes.length) throw new InvalidPngError(`truncated ${type} chunk`)
    const data = bytes.subarray(o + 8, o + 8 + length)
    const storedCrc = view.getUint32(o + 8 + length)
    const computedCrc = crc32(bytes.subarray(o + 4, o + 8 + length))
    if (computedCrc !== storedCrc) throw new InvalidPngError(`bad CRC in ${type} chunk`)
    o += 12 + length
    if (type === 'IHDR') {
      if (length !== 13) throw new InvalidPngError('bad IHDR length')
      const d = new DataView(data.buffer, data.byteOffset, 13)
      header = { width: d.getUint32(0), height: d.getUint32(4), depth: data[8], colorType: data[9] }
      if (data[10] !== 0 || data[11] !== 0) throw new InvalidPngError('unknown compression or filter method')
      if (data[12] !== 0) throw new InvalidPngError('interlaced PNGs are not supported')
    } else if (type === 'PLTE') {
      palette = data
    } else if (type === 'tRNS') {
      transparency = data
    } else if (type === 'IDAT') {
      idat.push(data)
    } else if (type === 'IEND') {
      ended = true
    }
  }
  if (header === undefined) throw new InvalidPngError('missing IHDR')
  if (!ended) throw new InvalidPngError('missing IEND')
  const { width, height, depth, colorType } = header
  const samples = CHANNELS_OF_COLOR_TYPE[colorType]
  const validDepth = colorType === 0 ? [1, 2, 4, 8, 16] : colorType === 3 ? [1, 2, 4, 8] : [8, 16]
  if (samples === undefined || !validDepth.includes(depth)) {
    throw new InvalidPngError(`unsupported color type ${colorType} with bit depth ${depth}`)
  }
  if (width < 1 || height < 1 || width * height > MAX_PIXELS) {
    throw new InvalidPngError(`unsupported size ${width}x${height}`)
  }
  if (colorType === 3 && palette === undefined) throw new InvalidPngError('palette image without PLTE')
  const bpp = Math.max(1, (samples * depth) >> 3)
  const stride = Math.ceil((width * samples * depth) / 8)
  let raw: Uint8Array
  try {
    // The header fixes the length; a few KB of IDAT (a sample server's image) could otherwise
    // inflate to gigabytes before that check.
    raw = inflateSync(concat(idat), { maxOutputLength: height * (stride + 1) })
  } catch {
    throw new InvalidPngError('corrupt image data, or more of it than the header declares')
  }
  if (raw.length !== height * (stride + 1)) throw new InvalidPngError('image data has the wrong length')
  const unfiltered = unfilter(raw, height, stride, bpp)
  return expand(unfiltered, header, stride, samples, palette, transparency)
}

/** Reverses the per-row filters (None, Sub, Up, Average, Paeth) in place of a copy. */
function unfilter (raw: Uint8Array, height: number, stride: number, bpp: number): Uint8Array {
  const out = new Uint8Array(height * stride)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]
    const src = y * (stride + 1) + 1
    const dst = y * stride
    const up = dst - stride
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? out[dst + i - bpp] : 0
      const b = y > 0 ? out[up + i] : 0
      const c = y > 0 && i >= bpp ? out[up + i - bpp] : 0
      let predictor: number
      switch (filter) {
        case 0: predictor = 0; break
        case 1: predictor = a; break
        case 2: predictor = b; break
        case 3: predictor = (a + b) >> 1; break
        case 4: predictor = paeth(a, b, c); break
        default: throw new InvalidPngError(`unknown filter type ${filter}`)
      }
      out[dst + i] = (raw[src + i] + predictor) & 0xff
    }
  }
  return out
}

function paeth (a: number, b: number, c: number): number {
  const p = a + b - c
  const pa = Math.abs(p - a)
  const pb = Math.abs(p - b)
  const pc = Math.abs(p - c)
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
}

/** Unpacks samples to 8-bit channels: palette -> RGB(A), tRNS -> alpha, 16-bit -> high byte. */
function expand (
  data: Uint8Array, h: PngHeader, stride: number, samples: number, palette?: Uint8Array, trns?: Uint8Array
): RawImage {
  const { width, height, depth, colorType } = h
  const sample = (y: number, i: number): number => {
    if (depth === 8) return data[y * stride + i]
    if (depth === 16) return (data[y * stride + 2 * i] << 8) | data[y * stride + 2 * i + 1]
    const bit = i * depth
    return (data[y * stride + (bit >> 3)] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1)
  }
  const to8 = (v: number): number => {
    if (depth === 16) return v >> 8
    if (depth === 8 || colorType === 3) return v
    return Math.round((v * 255) / ((1 << depth) - 1))
  }
  const alphaFromTrns = trns !== undefined && (colorType === 0 || colorType === 2 || colorType === 3)
  const channels = colorType === 3 ? (alphaFromTrns ? 4 : 3) : samples + (alphaFromTrns ? 1 : 0)
  const pixels = new Uint8Array(width * height * channels)
  const tv = trns !== undefined && trns.length >= 2
    ? new DataView(trns.buffer, trns.byteOffset, trns.byteLength)
    : undefined
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * channels
      if (colorType === 3) {
        const idx = sample(y, x)
        if (3 * idx + 2 >= palette!.length) throw new InvalidPngError(`palette index ${idx} out of range`)
        pixels[o] = palette![3 * idx]; pixels[o + 1] = palette![3 * idx + 1]; pixels[o + 2] = palette![3 * idx + 2]
        if (alphaFromTrns) pixels[o + 3] = idx < trns!.length ? trns![idx] : 255
        continue
      }
      let transparent = alphaFromTrns && tv !== undefined
      for (let c = 0; c < samples; c++) {
        const v = sample(y, x * samples + c)
        pixels[o + c] = to8(v)
        if (alphaFromTrns && tv !== undefined && !matchesKey(tv, c, v)) transparent = false
      }
      if (alphaFromTrns) pixels[o + samples] = transparent ? 0 : 255
    }
  }
  return { width, height, channels, pixels }
}

/** Whether sample v of channel c is the tRNS key colour's (16-bit big-endian per channel). */
function matchesKey (key: DataView, c: number, v: number): boolean {
  return 2 * c + 1 < key.byteLength && key.getUint16(2 * c) === v
}

function chunk (type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length)
  const v = new DataView(out.buffer)
  v.setUint32(0, data.length)
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i)
  out.set(data, 8)
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)))
  return out
}

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
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
