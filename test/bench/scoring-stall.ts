/**
 * How long a verifier's scoring holds a node's event loop (gossip, pings and streams wait that
 * long), alternating over --rounds in one process; prints the longest event-loop delay and the
 * scoring time of each way, and their ratios (sliced / whole):
 * - one `small` expert at the default run's held-out evaluation (4 batches of 64), in forward
 *   passes of whole batches against passes of ROWS_PER_PASS rows;
 * - a `router-small` router on 3 000 held-out images in 4 clusters (the default run's held-out
 *   set), all at once as `evaluateRouter` does against `scoreRouter`'s passes of
 *   ROUTER_ROWS_PER_PASS images.
 *
 *   npm run bench test/bench/scoring-stall.ts -- [--rounds 3] [--preset small]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { ROWS_PER_PASS, scoreExpert } from '../../src/checkpoint/expert-score.js'
import { decodeCheckpoint, type Checkpoint } from '../../src/checkpoint/format.js'
import { loadRouter } from '../../src/checkpoint/router.js'
import { evaluateRouter, ROUTER_ROWS_PER_PASS, scoreRouter } from '../../src/checkpoint/router-score.js'
import { buildShards, encodeShard, loadDataset, subsetDataset } from '../../src/data/index.js'
import { initBackend } from '../../src/runtime/index.js'
import { routerCheckpoint, trainRouter } from '../../src/training/index.js'
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

/** The longest event-loop delay (ms) while `score` runs, and its time (ms). */
async function measure (score: () => Promise<unknown>): Promise<{ stallMs: number, scoreMs: number }> {
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  // The monitor measures from its first tick: let it tick before the work starts.
  await new Promise((resolve) => setTimeout(resolve, 20))
  const t0 = performance.now()
  await score()
  const scoreMs = performance.now() - t0
  // The monitor records a delay when the loop next turns: a synchronous call's is its whole time.
  await new Promise((resolve) => setTimeout(resolve, 20))
  delay.disable()
  return { stallMs: delay.max / 1e6, scoreMs }
}

type Measured = Awaited<ReturnType<typeof measure>>
/** Measures the two ways alternately over --rounds (after a warm-up of the second) and prints the table. */
async function compare (title: string, whole: () => Promise<unknown>, sliced: () => Promise<unknown>): Promise<void> {
  const rows: Array<{ round: number, whole: Measured, sliced: Measured }> = []
  await measure(sliced)   // warm-up: kernels and buffers
  for (let round = 1; round <= Number(args.rounds); round++) {
    rows.push({ round, whole: await measure(whole), sliced: await measure(sliced) })
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log(`\n${title} (backend ${backend.name})`)
  console.log('| round | longest stall: whole / sliced (ms) | time: whole / sliced (ms) | stall ratio | time ratio |')
  console.log('|---|---|---|---|---|')
  for (const { round, whole, sliced } of rows) {
    console.log(`| ${round} | ${whole.stallMs.toFixed(0)} / ${sliced.stallMs.toFixed(0)} | ` +
      `${whole.scoreMs.toFixed(0)} / ${sliced.scoreMs.toFixed(0)} | ` +
      `${(sliced.stallMs / whole.stallMs).toFixed(2)} | ${(sliced.scoreMs / whole.scoreMs).toFixed(2)} |`)
  }
  const ratio = (f: (r: typeof rows[number]) => number): string => median(rows.map(f)).toFixed(2)
  console.log(`median stall ratio ${ratio(r => r.sliced.stallMs / r.whole.stallMs)}, ` +
    `median time ratio ${ratio(r => r.sliced.scoreMs / r.whole.scoreMs)}`)
}

const settings = { batches: 4, batchSize: 64, seed: 1 }
await compare(`expert ${args.preset}, 4 x 64 draws, passes of 64 rows against ${ROWS_PER_PASS}`,
  async () => await scoreExpert(checkpoint, heldOut, { ...settings, rowsPerPass: 64 }),
  async () => await scoreExpert(checkpoint, heldOut, { ...settings, rowsPerPass: ROWS_PER_PASS }))

// A router of 4 clusters, one training step: the weights do not change how long a pass takes.
const many = subsetDataset(mnist, Array.from({ length: 20_000 }, (_, i) => i))
const assignments = Int32Array.from({ length: many.count }, (_, i) => i % 4)
const clusters = buildShards(many, { k: 4, assignments, digest: 'stall-4' }, { heldOutFraction: 0.15, seed: 0 })
const training = { steps: 1, batchSize: 16, seed: 1 }
const trained = await trainRouter({ shards: clusters.map(c => encodeShard(c.train)), preset: 'router-small', training })
const router: Checkpoint = routerCheckpoint(trained, 'router-small')
trained.router.dispose()
const routerHeldOut = clusters.map(c => c.heldOut)
const heldOutImages = routerHeldOut.reduce((n, s) => n + s.header.count, 0)
await compare(`router-small, ${heldOutImages} held-out images, all at once against passes of ${ROUTER_ROWS_PER_PASS}`,
  async () => {
    const loaded = loadRouter(router)
    try { evaluateRouter(loaded.model, routerHeldOut, { seed: 1 }) } finally { loaded.dispose() }
  },
  async () => await scoreRouter(router, routerHeldOut, { seed: 1 }))
