import { createHash } from 'node:crypto'
import { crc32, deflateSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { decodePng, encodePng, imageGrid, Random } from '../../src/data/index.js'

/** An independent PNG writer for fixtures: given filter per row, depth, color type, extra chunks. */
function handmadePng (o: {
  width: number, height: number, depth: number, colorType: number,
  rows: Uint8Array[], filters: number[], bpp: number, interlace?: number, extra?: Array<[string, Uint8Array]>
}): Uint8Array {
  const filtered: number[] = []
  o.rows.forEach((row, y) => {
    const prev = y > 0 ? o.rows[y - 1] : new Uint8Array(row.length)
    const f = o.filters[y % o.filters.length]
    filtered.push(f)
    for (let i = 0; i < row.length; i++) {
      const a = i >= o.bpp ? row[i - o.bpp] : 0
      const b = prev[i]
      const c = i >= o.bpp ? prev[i - o.bpp] : 0
      const p = a + b - c
      const pa = Math.abs(p - a)
      const pb = Math.abs(p - b)
      const pc = Math.abs(p - c)
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
      const pred = [0, a, b, Math.floor((a + b) / 2), paeth][f]
      filtered.push((row[i] - pred + 256) % 256)
    }
  })
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const head = Buffer.concat([Buffer.from(type, 'latin1'), data])
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length)
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(head))
    return Buffer.concat([len, head, crc])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(o.width, 0); ihdr.writeUInt32BE(o.height, 4)
  ihdr[8] = o.depth; ihdr[9] = o.colorType; ihdr[12] = o.interlace ?? 0
  return new Uint8Array(Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    ...(o.extra ?? []).map(([t, d]) => chunk(t, d)),
    chunk('IDAT', deflateSync(Uint8Array.from(filtered))), chunk('IEND', new Uint8Array(0))
  ]))
}

function randomImage (width: number, height: number, channels: number, seed: number): Uint8Array {
  const r = new Random(seed)
  return Uint8Array.from({ length: width * height * channels }, () => r.nextInt(256))
}

/** The contact sheet imageGrid should draw, written out plainly: tiles of `scale`-times pixels, row by row. */
interface GridLayout { cols: number, rows: number, pad: number, bg: number, scale: number }

function expectedGrid (bytes: Uint8Array, w: number, h: number, C: number, o: GridLayout): Uint8Array {
  const W = o.cols * (w * o.scale + o.pad) + o.pad
  const H = o.rows * (h * o.scale + o.pad) + o.pad
  const out = new Uint8Array(W * H * C).fill(o.bg)
  for (let n = 0; n < bytes.length / (w * h * C); n++) {
    const left = o.pad + (n % o.cols) * (w * o.scale + o.pad)
    const top = o.pad + Math.floor(n / o.cols) * (h * o.scale + o.pad)
    for (let y = 0; y < h * o.scale; y++) {
      for (let x = 0; x < w * o.scale; x++) {
        const src = ((n * h + Math.floor(y / o.scale)) * w + Math.floor(x / o.scale)) * C
        out.set(bytes.subarray(src, src + C), ((top + y) * W + left + x) * C)
      }
    }
  }
  return out
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

describe('PNG codec', () => {
  it('round-trips 8-bit gray, gray+alpha, RGB and RGBA', () => {
    for (const channels of [1, 2, 3, 4]) {
      const pixels = randomImage(13, 7, channels, channels)
      const back = decodePng(encodePng({ width: 13, height: 7, channels, pixels }))
      expect(back).toEqual({ width: 13, height: 7, channels, pixels })
    }
  })

  it('decodes every filter type, alone and mixed', () => {
    const width = 9
    const pixels = randomImage(width, 10, 3, 42)
    const rows = Array.from({ length: 10 }, (_, y) => pixels.subarray(y * width * 3, (y + 1) * width * 3))
    for (const filters of [[0], [1], [2], [3], [4], [0, 1, 2, 3, 4]]) {
      const png = handmadePng({ width, height: 10, depth: 8, colorType: 2, rows, filters, bpp: 3 })
      expect(decodePng(png).pixels).toEqual(pixels)
    }
  })

  it('decodes palette (with tRNS), 16-bit and 1-bit gray images', () => {
    const palette = Uint8Array.of(255, 0, 0, 0, 255, 0, 0, 0, 255)
    const indices = [Uint8Array.of(0, 1, 2), Uint8Array.of(2, 1, 0)]
    const pal = decodePng(handmadePng({
      width: 3, height: 2, depth: 8, colorType: 3,
      rows: indices, filters: [4], bpp: 1, extra: [['PLTE', palette], ['tRNS', Uint8Array.of(0)]]
    }))
    expect(pal.channels).toBe(4)
    expect([...pal.pixels.subarray(0, 8)]).toEqual([255, 0, 0, 0, 0, 255, 0, 255])
    const wide = decodePng(handmadePng({
      width: 2, height: 1, depth: 16, colorType: 0,
      rows: [Uint8Array.of(0x12, 0x34, 0xff, 0xff)], filters: [1], bpp: 2
    }))
    expect([...wide.pixels]).toEqual([0x12, 0xff])
    const bits = decodePng(handmadePng({
      width: 10, height: 1, depth: 1, colorType: 0,
      rows: [Uint8Array.of(0b10110000, 0b01000000)], filters: [0], bpp: 1
    }))
    expect([...bits.pixels]).toEqual([255, 0, 255, 255, 0, 0, 0, 0, 0, 255])
  })

  it('decodes Adam7-interlaced 8- and 16-bit images (fast-png adds these)', () => {
    for (const depth of [8, 16]) {
      const width = 11
      const height = 9
      const bytes = randomImage(width, height, 3 * depth / 8, depth)
      const stride = width * 3 * depth / 8
      const rows: Uint8Array[] = []
      const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]
      for (const [x0, y0, dx, dy] of passes) {
        for (let y = y0; y < height; y += dy) {
          const row: number[] = []
          for (let x = x0; x < width; x += dx) {
            const o = y * stride + x * 3 * depth / 8
            row.push(...bytes.subarray(o, o + 3 * depth / 8))
          }
          if (row.length > 0) rows.push(Uint8Array.from(row))
        }
      }
      // None and Sub only: they do not look at the previous row, which restarts with each pass.
      const png = handmadePng({
        width, height, depth, colorType: 2, rows, filters: [0, 1], bpp: 3 * depth / 8, interlace: 1
      })
      const expected = depth === 8 ? bytes : bytes.filter((_, i) => i % 2 === 0)
      expect(decodePng(png)).toEqual({ width, height, channels: 3, pixels: expected })
    }
  })

  it('rejects corrupt, truncated and interlaced 1-bit PNGs with InvalidPngError', () => {
    const good = encodePng({ width: 4, height: 4, channels: 1, pixels: randomImage(4, 4, 1, 1) })
    const bad = [
      handmadePng({
        width: 8, height: 1, depth: 1, colorType: 0,
        rows: [Uint8Array.of(5)], filters: [0], bpp: 1, interlace: 1
      }),
      good.subarray(0, good.length - 5),
      Uint8Array.from(good, (b, i) => (i === 40 ? b ^ 0xff : b)),
      Uint8Array.from(good, (b, i) => (i === 1 ? 0 : b)),
      handmadePng({ width: 1, height: 1, depth: 8, colorType: 3, rows: [Uint8Array.of(0)], filters: [0], bpp: 1 }),
      handmadePng({ width: 2, height: 1, depth: 8, colorType: 0, rows: [Uint8Array.of(1, 2, 3)], filters: [0], bpp: 1 })
    ]
    const invalidPng = expect.objectContaining({ name: 'InvalidPngError' })
    for (const bytes of bad) expect(() => decodePng(bytes)).toThrowError(invalidPng)
  })

  it('draws a grid of byte or [-1, 1] float images', () => {
    const pixels = Float32Array.from({ length: 5 * 2 * 3 }, (_, i) => (i < 6 ? 1 : -1))
    const image = { width: 3, height: 2, channels: 1, pixels }
    const grid = decodePng(imageGrid(image, { cols: 3, padding: 1, background: 128, scale: 2 }))
    expect([grid.width, grid.height, grid.channels]).toEqual([3 * 7 + 1, 2 * 5 + 1, 1])
    expect(grid.pixels[0]).toBe(128)
    expect(grid.pixels[1 * grid.width + 1]).toBe(255)  // first tile, white
    expect(grid.pixels[1 * grid.width + 8]).toBe(0)    // second tile, black
    const tooFewPixels = { width: 3, height: 2, channels: 1, pixels: new Uint8Array(7) }
    expect(() => imageGrid(tooFewPixels)).toThrowError(expect.objectContaining({ name: 'InvalidArgumentError' }))
  })

  it('pins the bytes of a gray and an RGB sample grid, which decode back to exactly the drawn pixels', () => {
    // The pins change when the encoder does (fast-png replaced our own codec: fflate's deflate, level 9);
    // the decode checks keep them meaning "these pixels", not just "these bytes".
    const gray = Uint8Array.from({ length: 4 * 20 }, (_, i) => (i * 37) % 256)
    const grayImages = { width: 5, height: 4, channels: 1, pixels: gray }
    const grayPng = imageGrid(grayImages, { cols: 2, padding: 1, background: 9 })
    expect(sha256(grayPng)).toBe('4c406e7ad12e51f55fffc12f3bc7d4f03b5e79f5cc8335e7ab727140eef29121')
    expect(decodePng(grayPng)).toEqual({
      width: 13, height: 11, channels: 1,
      pixels: expectedGrid(gray, 5, 4, 1, { cols: 2, rows: 2, pad: 1, bg: 9, scale: 1 })
    })
    const floats = Float32Array.from({ length: 3 * 18 }, (_, i) => Math.sin(i))
    const rgbPng = imageGrid({ width: 3, height: 2, channels: 3, pixels: floats }, { scale: 2 })
    expect(sha256(rgbPng)).toBe('d3c1807eb7526ee881436e430a2c85e6353ab26a65ce5ae77f98a9a6b01f5bef')
    const bytes = Uint8Array.from(floats, v => Math.min(255, Math.max(0, Math.round((v + 1) * 127.5))))
    expect(decodePng(rgbPng)).toEqual({
      width: 18, height: 14, channels: 3,
      pixels: expectedGrid(bytes, 3, 2, 3, { cols: 2, rows: 2, pad: 2, bg: 0, scale: 2 })
    })
  })
})
