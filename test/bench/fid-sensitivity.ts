/**
 * What our FID sees and what it misses: real training images, degraded in known ways, scored
 * against the test split exactly as the experiment scores samples (the dataset's evaluation
 * classifier, its 128-d features, the whole test split as reference). The experiment's tables
 * read FID differences of 2-20 between ensembles and the monolith; this bench says which kinds
 * of defect move FID by that much, so that a reader knows what a difference can and cannot mean.
 *
 *   npm run bench test/bench/fid-sensitivity.ts [-- --dataset mnist --samples 1000,3000 --draws 3]
 *
 * Each variant is applied to the same `samples` training images (drawn `draws` times with other
 * seeds; the table gives the range). Prompt accuracy uses the images' true labels as prompts.
 * "In one stroke" is the share of images whose ink is one 4-connected piece, "ink pixels" the
 * stroke weight (src/eval/strokes.ts); the experiment's samples can be measured the same way
 * (test/bench/stroke-pieces.ts).
 */
import { parseArgs } from 'node:util'
import { loadDataset, Random, subsetDataset, type Dataset } from '../../src/data/index.js'
import { evaluateSamples, loadClassifier, referenceStatistics } from '../../src/eval/index.js'
import { strokeStatistics } from '../../src/eval/strokes.js'
import { initBackend } from '../../src/runtime/index.js'

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'mnist' },
    samples: { type: 'string', default: '1000,3000' },
    draws: { type: 'string', default: '3' }
  }
})
const dataset = args.dataset!
const sampleCounts = args.samples!.split(',').map(Number)
const draws = Number(args.draws)

/** A degradation of a set of 28x28 byte images (a copy; `random` makes it reproducible). */
type Variant = (images: Uint8Array, random: Random) => Uint8Array
const SIDE = 28
const INK = 128

const VARIANTS: Record<string, Variant> = {
  'real (the floor)': (images) => images.slice(),
  'speckle: 10% of ink pixels erased': (images, r) => images.map(v => v >= INK && r.nextFloat() < 0.1 ? 0 : v),
  'speckle: 30% of ink pixels erased': (images, r) => images.map(v => v >= INK && r.nextFloat() < 0.3 ? 0 : v),
  'salt: 2% of background pixels lit': (images, r) => images.map(v => v < INK && r.nextFloat() < 0.02 ? 255 : v),
  'Gaussian noise, std 25 of 255': (images, r) => images.map(v => Math.min(255, Math.max(0, v + 25 * r.normal()))),
  'box blur 3x3': blur,
  'strokes a little heavier: 10% of the pixels next to ink inked':
    (images, r) => dilate(images, () => r.nextFloat() < 0.1),
  'strokes thickened (3x3 cross maximum)': (images) => dilate(images, () => true),
  'shifted 2 pixels right': shift(2),
  'contrast halved (ink at 50%)': (images) => images.map(v => v >> 1)
}

function shift (dx: number): Variant {
  return (images) => images.map((_, i) => {
    const x = i % SIDE
    return x >= dx ? images[i - dx] : 0
  })
}

function blur (images: Uint8Array): Uint8Array {
  const out = new Uint8Array(images.length)
  const pixels = SIDE * SIDE
  for (let base = 0; base < images.length; base += pixels) {
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        let sum = 0
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy
            const xx = x + dx
            if (yy >= 0 && yy < SIDE && xx >= 0 && xx < SIDE) sum += images[base + yy * SIDE + xx]
          }
        }
        out[base + y * SIDE + x] = Math.round(sum / 9)
      }
    }
  }
  return out
}

/** Each pixel next to ink takes its brightest 4-neighbour where `take()` says so. */
function dilate (images: Uint8Array, take: () => boolean): Uint8Array {
  const out = new Uint8Array(images.length)
  const pixels = SIDE * SIDE
  const at = (base: number, y: number, x: number): number =>
    y >= 0 && y < SIDE && x >= 0 && x < SIDE ? images[base + y * SIDE + x] : 0
  for (let base = 0; base < images.length; base += pixels) {
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const near = Math.max(at(base, y - 1, x), at(base, y + 1, x), at(base, y, x - 1), at(base, y, x + 1))
        out[base + y * SIDE + x] = near > at(base, y, x) && take() ? near : at(base, y, x)
      }
    }
  }
  return out
}

/** `n` random training images from the classes `keep` (all by default). */
function draw (train: Dataset, n: number, seed: number, keep?: (label: number) => boolean): Dataset {
  const order = new Random(seed).permutation(train.count)
  const rows = Array.from(order).filter(i => keep === undefined || keep(train.labels![i])).slice(0, n)
  return subsetDataset(train, rows)
}

await initBackend({ backend: 'auto' })
const classifier = await loadClassifier(dataset)
const train = await loadDataset(dataset)
const reference = referenceStatistics(classifier, await loadDataset(`${dataset}:test`))
const half = (label: number): boolean => label < 5

console.log(`# FID sensitivity (${dataset}, reference: the ${reference.count} test images, ${draws} draws)\n`)
const header = sampleCounts.map(n => `FID (N = ${n})`).join(' | ')
console.log(`| variant | ${header} | prompt accuracy | diversity | in one stroke | ink pixels per image |`)
console.log(`|---|${sampleCounts.map(() => '---').join('|')}|---|---|---|---|`)
const rows: Array<[string, Variant, ((label: number) => boolean) | undefined]> = [
  ...Object.entries(VARIANTS).map(([name, v]) => [name, v, undefined] as [string, Variant, undefined]),
  ['mode dropping: only classes 0-4 (prompts too)', VARIANTS['real (the floor)'], half]
]
for (const [name, variant, keep] of rows) {
  const fids = sampleCounts.map(() => [] as number[])
  let accuracy = 0
  let diversity = 0
  let whole = 0
  let ink = 0
  for (let d = 0; d < draws; d++) {
    for (const [k, n] of sampleCounts.entries()) {
      const set = draw(train, n, 100 + d, keep)
      const images = variant(set.pixels, new Random(200 + d))
      const metrics = evaluateSamples({ classifier, reference, images, prompts: set.prompts })
      fids[k].push(metrics.fid)
      if (k === sampleCounts.length - 1) {
        accuracy += metrics.promptAccuracy.accuracy / draws
        diversity += metrics.diversity.mean / draws
        const strokes = strokeStatistics(images, SIDE)
        whole += strokes.whole / draws
        ink += strokes.inkPerImage / draws
      }
    }
  }
  const range = (v: number[]): string => `${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)}`
  const percent = (v: number): string => `${(100 * v).toFixed(1)}%`
  const measured = `${percent(accuracy)} | ${diversity.toFixed(2)} | ${percent(whole)} | ${ink.toFixed(1)}`
  console.log(`| ${name} | ${fids.map(range).join(' | ')} | ${measured} |`)
}
