/**
 * Checkpoint transfer and gossip on slow, delayed links (issue 16), in the test internet of
 * test/netns (network namespaces: run as root): one hddm peer process per host
 * (test/netns/swarm-peer.ts); each row gives every host the same link, starts fresh nodes in
 * those processes, and measures:
 *
 * - transfer: `prov` adds a checkpoint-sized file and `fetch` gets it with the file transfer
 *   protocol; the same bytes go the same way over raw TCP and over a plain libp2p stream, in
 *   turn, each round. Reported: times, MiB/s, share of the link rate and of the stream, the
 *   longest idle time (no progress beyond what the link needed for the data that ended it) and
 *   whether that is a stall (more than `--stall-rtts` round trips);
 * - gossip: every peer joined through `boot` subscribes to a run topic; `--messages` claims from
 *   the peers in turn, `--spacing` ms apart; every receiver timestamps each arrival on the
 *   machine's monotonic clock. Reported: p50 / p99 / max latency, delivered / expected, and p99
 *   over the one-way delay of a link.
 *
 *   nice -n 5 npm run bench test/bench/slow-links.ts -- [--rate 20] [--delay 40] [--jitter 5]
 *     [--public 6] [--nat 2] [--mib 16] [--rounds 1] [--messages 30] [--spacing 400]
 *     [--heartbeat <ms>] [--stall-rtts 5] [--only slow] [--json out.json] [--svg docs/img/netns-slow-links.svg]
 *
 * The `fast` row (no shaping) runs first in the same run, as the baseline.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { requireNetns } from '../netns/names.js'
import { gossipHopsTable, gossipTable, topologySvg, transferTable } from './slow-links-report.js'
import { measureRow, openBench, type LinkProfile, type RowOptions, type RowResult } from './slow-links-run.js'

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '20' },
    delay: { type: 'string', default: '40' },
    jitter: { type: 'string', default: '5' },
    public: { type: 'string', default: '6' },
    nat: { type: 'string', default: '2' },
    mib: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '1' },
    messages: { type: 'string', default: '30' },
    spacing: { type: 'string', default: '400' },
    heartbeat: { type: 'string' },
    'stall-rtts': { type: 'string', default: '5' },
    /** `slow` or `fast`: one row only. */
    only: { type: 'string' },
    json: { type: 'string', default: `tmp/slow-links-${new Date().toISOString().replace(/[:.]/g, '-')}.json` },
    svg: { type: 'string' }
  }
})

await requireNetns()
const options: RowOptions = {
  publicHosts: Number(values.public),
  natHosts: Number(values.nat),
  bytes: Number(values.mib) * 1024 * 1024,
  rounds: Number(values.rounds),
  messages: Number(values.messages),
  spacingMs: Number(values.spacing),
  ...(values.heartbeat !== undefined ? { heartbeatMs: Number(values.heartbeat) } : {}),
  stallRtts: Number(values['stall-rtts']),
  log: (line) => { console.log(line) }
}
const profiles: LinkProfile[] = [
  { name: 'fast' },
  { name: 'slow', rateMbit: Number(values.rate), delayMs: Number(values.delay), jitterMs: Number(values.jitter) }
].filter((p) => values.only === undefined || p.name === values.only)

const started = Date.now()
console.log(`node ${process.version}, ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
const rows: RowResult[] = []
const bench = await openBench(options)
try {
  for (const [i, profile] of profiles.entries()) rows.push(await measureRow(bench, i, profile, options))
} finally {
  await bench.net.stop()
}

const mib = Number(values.mib)
console.log(`\nCheckpoint transfer, ${mib} MiB, prov -> fetch (raw TCP, libp2p stream, file transfer in turn):\n`)
console.log(transferTable(rows, options.bytes, options.stallRtts))
console.log(`\nGossip, ${options.messages} claims ${options.spacingMs} ms apart from the peers in turn:\n`)
console.log(gossipTable(rows))
console.log('')
console.log(gossipHopsTable(rows))
const load = (): string => loadavg().map((l) => l.toFixed(1)).join(' ')
console.log(`\n${((Date.now() - started) / 1000).toFixed(0)} s in all, load ${load()}`)

await mkdir(dirname(values.json), { recursive: true })
await writeFile(values.json, JSON.stringify({ options: { ...options, log: undefined }, rows }, null, 1))
console.log(`wrote ${values.json}`)
if (values.svg !== undefined) {
  const row = rows.find((r) => r.profile.name === 'slow') ?? rows[0]
  await writeFile(values.svg, topologySvg(row, { boot: 'bootstrap peer', prov: 'provider', fetch: 'fetcher' }))
  console.log(`wrote ${values.svg}`)
}
