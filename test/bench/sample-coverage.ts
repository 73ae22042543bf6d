/**
 * Precision and recall (src/eval/precision-recall.ts) of the samples an experiment kept, next to
 * their FID: is a row's FID lost to samples unlike real images (precision) or to real images
 * unlike any sample (recall, coverage)? Reads `<state>/eval/*.u8` ([N, 28, 28] bytes) and scores
 * each against `--draws` random sets of N test images; the first row is N real training images,
 * the ceiling. The range over the draws is the noise.
 *
 *   npm run bench test/bench/sample-coverage.ts -- --state tmp/exp-mnist-k4 [--match step-2000] [--dataset mnist]
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadDataset } from '../../src/data/index.js'
import { classifyImages, loadClassifier, precisionRecall } from '../../src/eval/index.js'
import { initBackend } from '../../src/runtime/index.js'
import { REAL_DRAW_SEED, realFeatureDraw } from './experiment-parts.js'

const { values: args } = parseArgs({
  options: {
    state: { type: 'string', default: 'tmp/exp-mnist-k4' },
    match: { type: 'string', default: '' },
    dataset: { type: 'string', default: 'mnist' },
    draws: { type: 'string', default: '3' }
  }
})
const draws = Number(args.draws)
const SIDE = 28

await initBackend({ backend: 'auto' })
const classifier = await loadClassifier(args.dataset!)
const test = await loadDataset(`${args.dataset!}:test`)
const train = await loadDataset(args.dataset!)
const featuresOf = (pixels: Uint8Array): Float32Array => classifyImages(classifier, pixels).features

/** Features of `n` random images of `set`, one draw per seed (the report's draw is the first). */
const cache = new Map<string, Float32Array>()
function realFeatures (set: typeof test, n: number, seed: number): Float32Array {
  const key = `${set.name}/${n}/${seed}`
  let features = cache.get(key)
  if (features === undefined) cache.set(key, features = realFeatureDraw(classifier, set, n, seed))
  return features
}

function row (name: string, samples: Float32Array, n: number, fid: string): string {
  const results = Array.from({ length: draws }, (_, d) =>
    precisionRecall(realFeatures(test, n, REAL_DRAW_SEED + d), samples, classifier.featureSize))
  const range = (v: number[]): string => {
    const [lo, hi] = [Math.min(...v), Math.max(...v)].map(x => (100 * x).toFixed(1))
    return lo === hi ? `${lo}%` : `${lo}-${hi}%`
  }
  return `| ${name} | ${n} | ${fid} | ${range(results.map(r => r.precision))} | ${range(results.map(r => r.recall))} |`
}

const evalDir = join(args.state!, 'eval')
const files = (await readdir(evalDir)).filter(f => f.endsWith('.u8') && f.includes(args.match!)).sort()
console.log(`| samples | N | FID | precision (k = 3) | recall (k = 3) |`)
console.log('|---|---|---|---|---|')
const counts = new Set<number>()
const lines: string[] = []
for (const file of files) {
  const pixels = new Uint8Array(await readFile(join(evalDir, file)))
  const n = pixels.length / (SIDE * SIDE)
  counts.add(n)
  const json = JSON.parse(await readFile(join(evalDir, file.replace(/\.u8$/, '.json')), 'utf8').catch(() => '{}'))
  const fid = typeof json.evaluation?.fid === 'number' ? json.evaluation.fid.toFixed(2) : '-'
  lines.push(row(file.slice(0, -3), featuresOf(pixels), n, fid))
}
for (const n of counts) console.log(row(`real training images (${train.name})`, realFeatures(train, n, 1), n, '-'))
for (const line of lines) console.log(line)
