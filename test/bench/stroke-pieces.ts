/**
 * How whole the strokes of sampled digits are, next to the test set's: FID on the classifier's
 * features barely sees broken, speckled strokes (docs/RESULTS.md, "The table at 2 000 steps per
 * expert"), so this counts them. Reads the samples an experiment kept (`<state>/eval/*.u8`,
 * [N, 28, 28] bytes) and prints, per file: the stroke pieces per image (4-connected components
 * of pixels above half intensity; a clean digit is 1, rarely 2), isolated bright pixels (above
 * half, no 4-neighbour above a quarter) and edge per ink (total variation over total intensity).
 *
 *   npm run bench test/bench/stroke-pieces.ts -- --state tmp/exp-mnist-k4 [--match step-2000]
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadDataset } from '../../src/data/index.js'

const { values: args } = parseArgs({
  options: {
    state: { type: 'string', default: 'tmp/exp-mnist-k4' },
    match: { type: 'string', default: '' },
    dataset: { type: 'string', default: 'mnist:test' }
  }
})

const SIDE = 28
const PIXELS = SIDE * SIDE

interface StrokeStats { pieces: number[], isolated: number, edgePerInk: number }

/** Number of 4-connected components of the pixels above `threshold` in one image. */
function pieces (image: Uint8Array, threshold: number): number {
  const seen = new Uint8Array(PIXELS)
  const stack: number[] = []
  let count = 0
  for (let start = 0; start < PIXELS; start++) {
    if (image[start] <= threshold || seen[start] === 1) continue
    count++
    seen[start] = 1
    stack.push(start)
    while (stack.length > 0) {
      const p = stack.pop() as number
      const row = Math.floor(p / SIDE)
      const col = p % SIDE
      const neighbours = [row > 0 ? p - SIDE : -1, row < SIDE - 1 ? p + SIDE : -1, col > 0 ? p - 1 : -1,
        col < SIDE - 1 ? p + 1 : -1]
      for (const q of neighbours) {
        if (q >= 0 && seen[q] === 0 && image[q] > threshold) {
          seen[q] = 1
          stack.push(q)
        }
      }
    }
  }
  return count
}

function strokeStats (images: Uint8Array): StrokeStats {
  const n = images.length / PIXELS
  const counts: number[] = []
  let isolated = 0
  let edge = 0
  let ink = 0
  for (let i = 0; i < n; i++) {
    const image = images.subarray(i * PIXELS, (i + 1) * PIXELS)
    counts.push(pieces(image, 127))
    for (let p = 0; p < PIXELS; p++) {
      const row = Math.floor(p / SIDE)
      const col = p % SIDE
      ink += image[p]
      if (col < SIDE - 1) edge += Math.abs(image[p] - image[p + 1])
      if (row < SIDE - 1) edge += Math.abs(image[p] - image[p + SIDE])
      const around = [row > 0 ? image[p - SIDE] : 0, row < SIDE - 1 ? image[p + SIDE] : 0,
        col > 0 ? image[p - 1] : 0, col < SIDE - 1 ? image[p + 1] : 0]
      if (image[p] > 127 && Math.max(...around) < 64) isolated++
    }
  }
  return { pieces: counts, isolated: isolated / n, edgePerInk: edge / ink }
}

function row (name: string, s: StrokeStats): string {
  const sorted = [...s.pieces].sort((a, b) => a - b)
  const mean = s.pieces.reduce((a, b) => a + b, 0) / s.pieces.length
  const whole = s.pieces.filter(c => c === 1).length / s.pieces.length
  const median = sorted[sorted.length >> 1]
  return `| ${name} | ${s.pieces.length} | ${median}, ${mean.toFixed(2)} | ` +
    `${(100 * whole).toFixed(1)}% | ${s.isolated.toFixed(2)} | ${s.edgePerInk.toFixed(2)} |`
}

const test = await loadDataset(args.dataset as string)
console.log('| samples | images | stroke pieces per image (median, mean) | in one piece | isolated pixels ' +
  '| edge per ink |')
console.log('|---|---|---|---|---|---|')
console.log(row(test.name, strokeStats(test.pixels)))
const evalDir = join(args.state as string, 'eval')
const files = (await readdir(evalDir)).filter(f => f.endsWith('.u8') && f.includes(args.match as string)).sort()
for (const file of files) console.log(row(file.slice(0, -3), strokeStats(await readFile(join(evalDir, file)))))
