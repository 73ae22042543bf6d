import type { RawImage } from './png.js'

/**
 * Pixel conversions for reading image folders. Integer or fixed-order Float64 arithmetic only,
 * so the same files give the same dataset bytes on every machine.
 */

/** To 1 (gray, BT.601 luma) or 3 (RGB) channels; alpha is composited over `background`. */
export function toChannels (image: RawImage, channels: 1 | 3, background = 0): RawImage {
  const { width, height, channels: C, pixels } = image
  const out = new Uint8Array(width * height * channels)
  for (let p = 0; p < width * height; p++) {
    const s = p * C
    let r: number, g: number, b: number
    if (C <= 2) {
      r = g = b = pixels[s]
    } else {
      r = pixels[s]; g = pixels[s + 1]; b = pixels[s + 2]
    }
    if (C === 2 || C === 4) {
      const a = pixels[s + C - 1]
      r = Math.floor((r * a + background * (255 - a) + 127) / 255)
      g = Math.floor((g * a + background * (255 - a) + 127) / 255)
      b = Math.floor((b * a + background * (255 - a) + 127) / 255)
    }
    if (channels === 1) {
      out[p] = Math.floor((299 * r + 587 * g + 114 * b + 500) / 1000)
    } else {
      out[3 * p] = r; out[3 * p + 1] = g; out[3 * p + 2] = b
    }
  }
  return { width, height, channels, pixels: out }
}

/**
 * Centre-crops to the target aspect ratio, then resamples by area averaging: each output pixel
 * is the coverage-weighted mean of the source pixels under it (exact box filter when shrinking,
 * nearest-neighbour-like when enlarging).
 */
export function resizeImage (image: RawImage, width: number, height: number): RawImage {
  const { width: sw, height: sh, channels: C, pixels } = image
  if (sw === width && sh === height) return image
  // Crop the longer side so that source and target aspect ratios agree.
  let cw = sw
  let ch = sh
  if (sw * height > sh * width) cw = (sh * width) / height
  else ch = (sw * height) / width
  const x0 = (sw - cw) / 2
  const y0 = (sh - ch) / 2
  const wx = axisWeights(x0, cw, width, sw)
  const wy = axisWeights(y0, ch, height, sh)
  const out = new Uint8Array(width * height * C)
  const acc = new Float64Array(C)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      acc.fill(0)
      let total = 0
      for (const [iy, fy] of wy[y]) {
        for (const [ix, fx] of wx[x]) {
          const f = fy * fx
          total += f
          const s = (iy * sw + ix) * C
          for (let c = 0; c < C; c++) acc[c] += f * pixels[s + c]
        }
      }
      const o = (y * width + x) * C
      for (let c = 0; c < C; c++) out[o + c] = Math.min(255, Math.max(0, Math.round(acc[c] / total)))
    }
  }
  return { width, height, channels: C, pixels: out }
}

/** For each output index, the source indices it covers and how much (in source pixels). */
function axisWeights (start: number, span: number, n: number, size: number): Array<Array<[number, number]>> {
  const step = span / n
  return Array.from({ length: n }, (_, o) => {
    const a = start + o * step
    const b = start + (o + 1) * step
    const list: Array<[number, number]> = []
    for (let i = Math.floor(a); i < Math.min(size, Math.ceil(b)); i++) {
      const cover = Math.min(b, i + 1) - Math.max(a, i)
      if (cover > 0) list.push([i, cover])
    }
    return list
  })
}
