/**
 * How long a verifier's scoring holds a node's event loop (gossip, pings and streams wait that
 * long): one `small` expert scored at the default run's held-out evaluation (4 batches of 64),
 * in forward passes of whole batches against passes of ROWS_PER_PASS rows, alternating over
 * --rounds in one process. Prints the longest event-loop delay and the scoring time of each, and
 * their ratios (sliced / whole).
 *
 *   npm run bench test/bench/scoring-stall.ts -- [--rounds 3] [--preset small]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { ROWS_PER_PASS, scoreExpert } from '../../src/checkpoint/expert-score.js'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import { buildShards, encodeShard, loadDataset, subsetDataset } from '../../src/data/index.js'
import { initBackend } from '../../src/runtime/index.js'
import { trainTinyExpert } from '../checkpoint/fixtures.js'

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, preset: { type: 'string', default: 'small' } }
})
const backend = await initBackend({ backend: 'native' })
const mnist = await loadDataset('mnist')
const images = subsetDataset(mnist, Array.from({ length: 2000 }, (_, i) => i))
const [shard] = buildShards(images, { k: 1, assignments: new Int32Array(images.count), digest: 'stall' },
  { heldOutFraction: 0.1, seed: 0 })
// One training step: the weights do not change how long a forward pass takes.
const checkpoint = decodeCheckpoint(await trainTinyExpert({
  shard: encodeShard(shard.train), objective: 'fm', steps: 1, preset: args.preset
}))
const heldOut = encodeShard(shard.heldOut)

/** The longest event-loop delay (ms) while scoring, and the scoring time (ms). */
async function measure (rowsPerPass: number): Promise<{ stallMs: number, scoreMs: number }> {
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  const t0 = performance.now()
  await scoreExpert(checkpoint, heldOut, { batches: 4, batchSize: 64, seed: 1, rowsPerPass })
  const scoreMs = performance.now() - t0
  delay.disable()
  return { stallMs: delay.max / 1e6, scoreMs }
}

type Measured = Awaited<ReturnType<typeof measure>>
const rows: Array<{ round: number, whole: Measured, sliced: Measured }> = []
await measure(ROWS_PER_PASS)   // warm-up: kernels and buffers
for (let round = 1; round <= Number(args.rounds); round++) {
  const whole = await measure(64)
  const sliced = await measure(ROWS_PER_PASS)
  rows.push({ round, whole, sliced })
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
console.log(`backend ${backend.name}, preset ${args.preset}, 4 x 64 draws, passes of 64 rows against ${ROWS_PER_PASS}`)
console.log('| round | longest stall: whole / sliced (ms) | scoring: whole / sliced (ms) | stall ratio | time ratio |')
console.log('|---|---|---|---|---|')
for (const { round, whole, sliced } of rows) {
  console.log(`| ${round} | ${whole.stallMs.toFixed(0)} / ${sliced.stallMs.toFixed(0)} | ` +
    `${whole.scoreMs.toFixed(0)} / ${sliced.scoreMs.toFixed(0)} | ` +
    `${(sliced.stallMs / whole.stallMs).toFixed(2)} | ${(sliced.scoreMs / whole.scoreMs).toFixed(2)} |`)
}
const ratio = (f: (r: typeof rows[number]) => number): string => median(rows.map(f)).toFixed(2)
console.log(`median stall ratio ${ratio(r => r.sliced.stallMs / r.whole.stallMs)}, ` +
  `median time ratio ${ratio(r => r.sliced.scoreMs / r.whole.scoreMs)}`)
