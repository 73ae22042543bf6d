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

  it('rejects interlaced, corrupt and truncated PNGs with InvalidPngError', () => {
    const good = encodePng({ width: 4, height: 4, channels: 1, pixels: randomImage(4, 4, 1, 1) })
    const bad = [
      handmadePng({
        width: 1, height: 1, depth: 8, colorType: 0,
        rows: [Uint8Array.of(5)], filters: [0], bpp: 1, interlace: 1
      }),
      good.subarray(0, good.length - 5),
      Uint8Array.from(good, (b, i) => (i === 40 ? b ^ 0xff : b)),
      Uint8Array.from(good, (b, i) => (i === 1 ? 0 : b)),
      handmadePng({ width: 1, height: 1, depth: 8, colorType: 3, rows: [Uint8Array.of(0)], filters: [0], bpp: 1 })
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
})
