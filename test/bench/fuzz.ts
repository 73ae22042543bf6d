/**
 * Protocol fuzzing at volume (docs/RESULTS.md, "Protocol fuzzing"): every fuzz target of
 * test/adversarial (validators, decoders, the sample service over real libp2p streams) with
 * many more inputs than the tests run, counting what each answered.
 *
 *   npm run bench test/bench/fuzz.ts -- [--runs 10000] [--seed N] [--only gossip,png] [--skip-network] [--verbose]
 *
 * Per target: inputs, how many were accepted (or decoded), rejected, ignored or refused with a
 * typed hddm error, crashes (untyped errors, unhandled rejections, hangs: must be 0), the time
 * and the slowest single input. Exits non-zero when anything crashed.
 */
import { parseArgs } from 'node:util'
import { fuzzSeed, fuzzTarget, type FuzzTarget, type TargetStats } from '../adversarial/fuzz-harness.js'
import { offlineTargets } from '../adversarial/fuzz-targets.js'
import { networkTargets } from '../adversarial/fuzz-network.js'

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    only: { type: 'string' },
    'skip-network': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false }
  }
})
const runs = Number(args.runs)
const seed = args.seed !== undefined ? Number(args.seed) : fuzzSeed()
const only = args.only?.split(',').filter((s) => s !== '')
const wanted = (t: FuzzTarget): boolean => only === undefined || only.some((o) => t.name.startsWith(o))

const table: TargetStats[] = []
const row = (cells: Array<string | number>): string =>
  cells.map((c, i) => i === 0 ? String(c).padEnd(26) : String(c).padStart(10)).join('')
const print = (s: TargetStats): void => {
  const time = (s.ms / 1000).toFixed(1)
  const slowest = s.slowestMs.toFixed(1)
  console.log(row([s.name, s.runs, s.accept, s.reject, s.ignore, s['typed-error'], s.crashes, time, slowest]))
  if (s.firstCrash !== undefined) console.log(`  first crash: ${s.firstCrash}`)
  if (args.verbose) console.log(`  slowest input: ${s.slowestInput ?? '-'}`)
}

console.log(`fuzz: ${runs} inputs per target, seed ${seed}, node ${process.version}`)
console.log(row(['target', 'runs', 'accepted', 'rejected', 'ignored', 'typed-err', 'crashes', 'time s', 'max ms']))
for (const target of (await offlineTargets()).filter(wanted)) {
  table.push(await fuzzTarget(target, { numRuns: runs, seed }))
  print(table[table.length - 1])
}
if (!args['skip-network']) {
  const network = await networkTargets()
  try {
    for (const target of network.targets.filter(wanted)) {
      table.push(await fuzzTarget(target, { numRuns: runs, seed, hangMs: 15_000 }))
      print(table[table.length - 1])
    }
    // The server must still serve an honest request, and hold no job, after all that.
    await network.serviceCheck()
    if (network.service.active !== 0) throw new Error(`the sample service still holds ${network.service.active} jobs`)
  } finally {
    await network.close()
  }
}
const runsTotal = table.reduce((n, s) => n + s.runs, 0)
const crashes = table.reduce((n, s) => n + s.crashes, 0)
const seconds = table.reduce((n, s) => n + s.ms, 0) / 1000
console.log(`total: ${runsTotal} inputs over ${table.length} targets, ${crashes} crashes, ${seconds.toFixed(1)} s`)
process.exit(crashes === 0 ? 0 : 1)
