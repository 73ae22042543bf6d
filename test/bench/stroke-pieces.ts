/**
 * How whole the strokes of sampled digits are, next to the test set's (src/eval/strokes.ts says
 * why FID needs this beside it). Reads the samples an experiment kept (`<state>/eval/*.u8`,
 * [N, 28, 28] bytes) and prints, per file: stroke pieces per image (a clean digit is 1, rarely
 * 2), the share in one piece, isolated bright pixels per image, edge per ink and ink pixels per
 * image (stroke weight).
 *
 *   npm run bench test/bench/stroke-pieces.ts -- --state tmp/exp-mnist-k4 [--match step-2000]
 *     [--dir guidance]   (the guidance sweep's samples)  [--dataset fashion-mnist:test]
 *
 * On Fashion-MNIST the piece counts mean little (a shirt is one piece), but isolated pixels and
 * edge per ink still measure speckle and texture noise against the test images'.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadDataset } from '../../src/data/index.js'
import { strokeStatistics, type StrokeStatistics } from '../../src/eval/index.js'

const { values: args } = parseArgs({
  options: {
    state: { type: 'string', default: 'tmp/exp-mnist-k4' },
    match: { type: 'string', default: '' },
    dataset: { type: 'string', default: 'mnist:test' },
    /** The state's folder of kept samples: eval (the table's) or guidance (the sweep's). */
    dir: { type: 'string', default: 'eval' }
  }
})

const SIDE = 28

function row (name: string, s: StrokeStatistics): string {
  return `| ${name} | ${s.images} | ${s.meanPieces.toFixed(2)} | ${(100 * s.whole).toFixed(1)}% | ` +
    `${s.isolatedPerImage.toFixed(2)} | ${s.edgePerInk.toFixed(2)} | ${s.inkPerImage.toFixed(1)} |`
}

const test = await loadDataset(args.dataset as string)
console.log('| samples | images | stroke pieces per image (mean) | in one piece | isolated pixels per image ' +
  '| edge per ink | ink pixels per image |')
console.log('|---|---|---|---|---|---|---|')
console.log(row(test.name, strokeStatistics(test.pixels, SIDE)))
const evalDir = join(args.state as string, args.dir as string)
const files = (await readdir(evalDir)).filter(f => f.endsWith('.u8') && f.includes(args.match as string)).sort()
for (const file of files) {
  console.log(row(file.slice(0, -3), strokeStatistics(await readFile(join(evalDir, file)), SIDE)))
}
