/**
 * A line chart as a PNG, with no dependency: axes with numeric ticks, series as lines with
 * square markers, a title, axis labels and a legend, text in a built-in 3x5 pixel font
 * (digits, A-Z, a few signs; lower case is drawn as upper case). Enough for the FID-against-
 * compute plot of docs/RESULTS.md; not a general plotting library.
 */
import { encodePng } from '../data/png.js'
import { InvalidArgumentError } from '../hddm-error.js'

export interface PlotSeries {
  name: string
  /** RGB 0-255. */
  color: [number, number, number]
  points: Array<[number, number]>
  /** Draw markers only, no connecting line. */
  markersOnly?: boolean
}

export interface LinePlotOptions {
  title?: string
  xLabel?: string
  yLabel?: string
  width?: number
  height?: number
  /** Axis ranges (default: the data's, padded, y from 0 when the data are positive). */
  xRange?: [number, number]
  yRange?: [number, number]
}

/** 3x5 glyphs, one row per number (bit 2 = left column). */
const GLYPHS: Record<string, number[]> = {
  0: [7, 5, 5, 5, 7], 1: [2, 6, 2, 2, 7], 2: [7, 1, 7, 4, 7], 3: [7, 1, 7, 1, 7], 4: [5, 5, 7, 1, 1],
  5: [7, 4, 7, 1, 7], 6: [7, 4, 7, 5, 7], 7: [7, 1, 1, 2, 2], 8: [7, 5, 7, 5, 7], 9: [7, 5, 7, 1, 7],
  A: [2, 5, 7, 5, 5], B: [6, 5, 6, 5, 6], C: [3, 4, 4, 4, 3], D: [6, 5, 5, 5, 6], E: [7, 4, 6, 4, 7],
  F: [7, 4, 6, 4, 4], G: [3, 4, 5, 5, 3], H: [5, 5, 7, 5, 5], I: [7, 2, 2, 2, 7], J: [1, 1, 1, 5, 2],
  K: [5, 5, 6, 5, 5], L: [4, 4, 4, 4, 7], M: [5, 7, 7, 5, 5], N: [6, 5, 5, 5, 5], O: [2, 5, 5, 5, 2],
  P: [6, 5, 6, 4, 4], Q: [2, 5, 5, 6, 3], R: [6, 5, 6, 5, 5], S: [3, 4, 2, 1, 6], T: [7, 2, 2, 2, 2],
  U: [5, 5, 5, 5, 7], V: [5, 5, 5, 5, 2], W: [5, 5, 7, 7, 5], X: [5, 5, 2, 5, 5], Y: [5, 5, 2, 2, 2],
  Z: [7, 1, 2, 4, 7], ' ': [0, 0, 0, 0, 0], '.': [0, 0, 0, 0, 2], '-': [0, 0, 7, 0, 0], '+': [0, 2, 7, 2, 0],
  '(': [1, 2, 2, 2, 1], ')': [4, 2, 2, 2, 4], '/': [1, 1, 2, 4, 4], ':': [0, 2, 0, 2, 0], '=': [0, 7, 0, 7, 0],
  '*': [0, 5, 2, 5, 0], ',': [0, 0, 0, 2, 4], '%': [5, 1, 2, 4, 5]
}

const FONT_SCALE = 2
const CHAR_W = 4 * FONT_SCALE
const CHAR_H = 5 * FONT_SCALE

class Canvas {
  readonly pixels: Uint8Array
  constructor (readonly width: number, readonly height: number) {
    this.pixels = new Uint8Array(width * height * 3).fill(255)
  }

  set (x: number, y: number, c: readonly number[]): void {
    x = Math.round(x)
    y = Math.round(y)
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return
    const o = (y * this.width + x) * 3
    this.pixels[o] = c[0]; this.pixels[o + 1] = c[1]; this.pixels[o + 2] = c[2]
  }

  rect (x: number, y: number, w: number, h: number, c: readonly number[]): void {
    for (let dy = 0; dy < h; dy++) for (let dx = 0; dx < w; dx++) this.set(x + dx, y + dy, c)
  }

  /** Bresenham, `thickness` pixels wide. */
  line (x0: number, y0: number, x1: number, y1: number, c: readonly number[], thickness = 1): void {
    x0 = Math.round(x0); y0 = Math.round(y0); x1 = Math.round(x1); y1 = Math.round(y1)
    const dx = Math.abs(x1 - x0)
    const dy = -Math.abs(y1 - y0)
    const sx = x0 < x1 ? 1 : -1
    const sy = y0 < y1 ? 1 : -1
    let err = dx + dy
    const half = Math.floor((thickness - 1) / 2)
    for (;;) {
      this.rect(x0 - half, y0 - half, thickness, thickness, c)
      if (x0 === x1 && y0 === y1) break
      const e2 = 2 * err
      if (e2 >= dy) { err += dy; x0 += sx }
      if (e2 <= dx) { err += dx; y0 += sy }
    }
  }

  text (x: number, y: number, s: string, c: readonly number[], vertical = false): void {
    let i = 0
    for (const ch of s.toUpperCase()) {
      const g = GLYPHS[ch] ?? GLYPHS[' ']
      for (let row = 0; row < 5; row++) {
        for (let col = 0; col < 3; col++) {
          if (((g[row] >> (2 - col)) & 1) === 0) continue
          for (let a = 0; a < FONT_SCALE; a++) {
            for (let b = 0; b < FONT_SCALE; b++) {
              const px = col * FONT_SCALE + a
              const py = row * FONT_SCALE + b
              if (vertical) this.set(x + py, y - i * CHAR_W - px, c)
              else this.set(x + i * CHAR_W + px, y + py, c)
            }
          }
        }
      }
      i++
    }
  }
}

export function textWidth (s: string): number {
  return s.length * CHAR_W
}

/** Tick values: 1, 2 or 5 times a power of ten, about `target` of them across [lo, hi]. */
export function niceTicks (lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / target
  const p = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map(m => m * p).find(s => s >= raw) ?? 10 * p
  const ticks: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)))
  return ticks
}

function formatTick (v: number): string {
  if (v === 0) return '0'
  const a = Math.abs(v)
  if (a >= 1e4 || a < 1e-2) return v.toExponential(0).replace('+', '')
  return String(Number(v.toPrecision(3)))
}

export function linePlot (series: PlotSeries[], options: LinePlotOptions = {}): Uint8Array {
  const W = options.width ?? 760
  const H = options.height ?? 480
  const all = series.flatMap(s => s.points)
  if (all.length === 0) throw new InvalidArgumentError('nothing to plot')
  if (!all.every(([x, y]) => Number.isFinite(x) && Number.isFinite(y))) {
    throw new InvalidArgumentError('plot points must be finite')
  }
  const xs = all.map(p => p[0])
  const ys = all.map(p => p[1])
  const pad = (lo: number, hi: number): [number, number] => {
    const margin = 0.05 * (hi - lo)
    return hi > lo ? [lo - margin, hi + margin] : [lo - 1, hi + 1]
  }
  const [x0, x1] = options.xRange ?? pad(Math.min(...xs), Math.max(...xs))
  const yData: [number, number] = [Math.min(...ys), Math.max(...ys)]
  const [y0, y1] = options.yRange ?? (yData[0] >= 0 ? [0, yData[1] * 1.08] : pad(...yData))
  const canvas = new Canvas(W, H)
  const left = 70
  const right = W - 20
  const top = 40
  const bottom = H - 55
  const px = (x: number): number => left + (x - x0) / (x1 - x0) * (right - left)
  const py = (y: number): number => bottom - (y - y0) / (y1 - y0) * (bottom - top)
  const black = [0, 0, 0]
  const grid = [225, 225, 225]
  for (const t of niceTicks(x0, x1)) {
    if (px(t) < left || px(t) > right) continue
    canvas.line(px(t), top, px(t), bottom, grid)
    canvas.line(px(t), bottom, px(t), bottom + 5, black)
    const label = formatTick(t)
    canvas.text(px(t) - textWidth(label) / 2, bottom + 9, label, black)
  }
  for (const t of niceTicks(y0, y1)) {
    if (py(t) < top || py(t) > bottom) continue
    canvas.line(left, py(t), right, py(t), grid)
    canvas.line(left - 5, py(t), left, py(t), black)
    const label = formatTick(t)
    canvas.text(left - 8 - textWidth(label), py(t) - CHAR_H / 2, label, black)
  }
  canvas.line(left, top, left, bottom, black)
  canvas.line(left, bottom, right, bottom, black)
  const { title, xLabel, yLabel } = options
  if (title !== undefined) canvas.text((W - textWidth(title)) / 2, 12, title, black)
  if (xLabel !== undefined) canvas.text((left + right - textWidth(xLabel)) / 2, H - 22, xLabel, black)
  if (yLabel !== undefined) canvas.text(12, (top + bottom + textWidth(yLabel)) / 2, yLabel, black, true)
  for (const s of series) {
    const pts = [...s.points].sort((a, b) => a[0] - b[0])
    if (s.markersOnly !== true) {
      for (let i = 1; i < pts.length; i++) {
        const [xa, ya] = pts[i - 1]
        const [xb, yb] = pts[i]
        canvas.line(px(xa), py(ya), px(xb), py(yb), s.color, 2)
      }
    }
    for (const [x, y] of pts) canvas.rect(px(x) - 3, py(y) - 3, 7, 7, s.color)
  }
  // Legend, top right inside the axes.
  const legendW = Math.max(...series.map(s => textWidth(s.name))) + 30
  let ly = top + 8
  const lx = right - legendW - 8
  canvas.rect(lx - 6, ly - 6, legendW + 12, series.length * (CHAR_H + 8) + 8, [250, 250, 250])
  for (const s of series) {
    canvas.rect(lx, ly, 14, CHAR_H, s.color)
    canvas.text(lx + 22, ly, s.name, black)
    ly += CHAR_H + 8
  }
  return encodePng({ width: W, height: H, channels: 3, pixels: canvas.pixels })
}
