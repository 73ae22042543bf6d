import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { multiaddr } from '@multiformats/multiaddr'
import { registerEnsemble } from '../../src/cli/ensemble.js'
import { registerSample } from '../../src/cli/sample.js'
import { decodePng } from '../../src/data/png.js'
import { createHddmNode, type HddmNode } from '../../src/node/hddm-node.js'
import { RunState } from '../../src/node/run-state.js'
import { requestSamples } from '../../src/network/sample-client.js'
import { decodeEnsembleManifest } from '../../src/protocol/ensemble-manifest.js'
import { decodeCheckpoint, encodeCheckpoint } from '../../src/checkpoint/format.js'
import { useTrainingBackend } from '../utils/backend.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { waitFor } from '../utils/wait.js'
import {
  createEnsembleRun, trainedExpert, trainedRouter, type EnsembleRun
} from '../ensemble/fixtures.js'
import type { CheckpointVerdict } from '../../src/ensemble/verify.js'

interface Run { code: number, stdout: string, stderr: string }

async function cli (...args: string[]): Promise<Run> {
  return await new Promise(resolve => {
    const options = { cwd: process.cwd(), timeout: 120_000 }
    execFile('npx', ['tsx', 'src/cli/bin.ts', ...args], options, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : -1), stdout, stderr })
    })
  })
}

/**
 * A command run in this process through commander, as bin.ts would, with its stdout captured
 * (spawning costs seconds of tsx start-up per command; the `ensemble` command is spawned once).
 */
async function inProcess (...args: string[]): Promise<string> {
  const program = new Command('hddm-node').exitOverride()
  registerEnsemble(program)
  registerSample(program)
  const chunks: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  const capture = (chunk: string | Uint8Array): boolean => { chunks.push(String(chunk)); return true }
  process.stdout.write = capture as typeof process.stdout.write
  try {
    await program.parseAsync(args, { from: 'user' })
  } finally {
    process.stdout.write = write
  }
  return chunks.join('')
}

const net = { listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback' as const, heartbeatIntervalMs: 200 }
let dir: string
let server: HddmNode
let trainer: TestNode
let liar: TestNode
let run: EnsembleRun
const cids: Record<string, string> = {}
const stops: Array<() => void> = []

/** A peer that says on the run's gossip that it finished `task` with checkpoint `cid`. */
async function announce (peer: TestNode, task: string, cid: string, heldOutLoss: number): Promise<void> {
  const state = new RunState(
    { runId: run.runId, manifest: run.manifest, self: peer.swarm.peerId.toString(), clock: Date.now },
    { gossip: peer.gossip }
  )
  state.start()
  stops.push(() => { state.stop() })
  await waitFor(() => state.peers().length > 0, 'a run peer to gossip with', 30_000)
  await state.checkpoint({ task, cid, step: run.manifest.training.expert.steps, final: true, heldOutLoss })
}

beforeAll(async () => {
  await useTrainingBackend()
  dir = await mkdtemp(join(tmpdir(), 'hddm-cli-ensemble-'))
  trainer = await createTestNode()
  liar = await createTestNode()
  // The run is created by the serving node's storage, as `hddm-node start --manifest` would.
  run = await createEnsembleRun(trainer.storage, 'cli-ensemble')
  server = createHddmNode({
    ...net, dataDir: join(dir, 'server'), source: { run: run.runId }, bootstrap: [trainer.addr, liar.addr]
  })
  await server.start()

  const ddpm = await trainedExpert(run, trainer.storage, 'expert-0', 30)
  cids['expert-0'] = (await trainer.storage.addBytes(ddpm)).toString()
  const fm = await trainedExpert(run, trainer.storage, 'expert-1', 30)
  cids['expert-1'] = (await trainer.storage.addBytes(fm)).toString()
  cids.router = (await trainer.storage.addBytes(await trainedRouter(run, trainer.storage))).toString()
  // A second "replica" of the FM task, poisoned, and claiming a better loss.
  const poisoned = decodeCheckpoint(fm)
  poisoned.tensors.get('blocks.0.mlp.fc2.weight')!.data[1] = Number.POSITIVE_INFINITY
  cids.poisoned = (await liar.storage.addBytes(encodeCheckpoint(poisoned))).toString()

  for (const task of ['expert-0', 'expert-1', 'router']) await announce(trainer, task, cids[task], 0.5)
  await announce(liar, 'expert-1', cids.poisoned, 0.01)
  const heard = (row: { task: string, finals?: unknown[] }): boolean =>
    (row.finals?.length ?? 0) === (row.task === 'expert-1' ? 2 : 1)
  await waitFor(() => server.coverage().every(heard), 'the server to hear every final announcement',
    { timeoutMs: 30_000, explain: () => `the server's coverage: ${JSON.stringify(server.coverage())}` })
}, 120_000)

afterAll(async () => {
  for (const stop of stops) stop()
  await server?.stop()
  await trainer?.stop()
  await liar?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('hddm-node ensemble and sample --ensemble', () => {
  it('names a heterogeneous ensemble from gossip, refusing the poisoned replica, and samples it locally and ' +
    'through a peer with the same PNG bytes', { timeout: 120_000 }, async () => {
    const bootstrap = [server.multiaddrs()[0], trainer.addr, liar.addr].flatMap((a) => ['--bootstrap', a])
    const made = await cli('ensemble', '--run', run.runId, ...bootstrap,
      '--data-dir', join(dir, 'assembler'), '--listen', '/ip4/127.0.0.1/tcp/0', '--scope', 'loopback',
      '--wait', '500', '--routing', 'top2', '--out', join(dir, 'ensemble.json'), '--json')
    expect(made.stderr).toBe('')
    expect(made.code).toBe(0)
    const report = JSON.parse(made.stdout) as { ensemble: string, verdicts: CheckpointVerdict[] }
    const byCid = new Map(report.verdicts.map((v) => [v.cid, v]))
    expect(byCid.get(cids.poisoned)).toMatchObject({ task: 'expert-1', accepted: false, reason: 'non-finite' })
    for (const task of ['expert-0', 'expert-1', 'router']) {
      expect(byCid.get(cids[task])).toMatchObject({ task, accepted: true, chosen: true })
    }
    const manifest = decodeEnsembleManifest(await readFile(join(dir, 'ensemble.json')))
    const experts = manifest.experts.map((e) => [e.objective, e.cid.toString()])
    expect(experts).toEqual([['ddpm', cids['expert-0']], ['fm', cids['expert-1']]])
    expect(manifest.routing).toBe('top2')

    // The server holds neither the manifest nor (necessarily) the chosen checkpoints, and does
    // not fetch for strangers by default.
    const request = { v: 1 as const, ensemble: report.ensemble, prompts: ['seven'], count: 1, steps: 2, seed: 1 }
    await expect(requestSamples(trainer.swarm.libp2p, multiaddr(server.multiaddrs()[0]), request))
      .rejects.toMatchObject({ code: 'unknown-ensemble' })
    // Whoever stores the same manifest holds the same CID; the checkpoints come from the trainer.
    expect((await server.blocks.putJson(manifest)).toString()).toBe(report.ensemble)
    const chosen = [manifest.router, ...manifest.experts.map((e) => e.cid)]
    for (const cid of chosen) await server.blocks.getBytes(cid, { timeoutMs: 10_000 })

    // Locally (from the assembler's blocks) and through the serving peer: same request, same seed.
    const args = [
      'sample', '--ensemble', report.ensemble, '--prompt', 'seven', '--prompt', 'two',
      '-n', '2', '--steps', '4', '--guidance', '2', '--seed', '3', '--scale', '1', '--scope', 'loopback'
    ]
    const local = await inProcess(...args, '--data-dir', join(dir, 'assembler'), '--bootstrap', trainer.addr,
      '--out', join(dir, 'local.png'), '--out-dir', join(dir, 'local'))
    expect(local).toMatch(/expert usage/)
    const usageLines = [...local.matchAll(/cluster (\d) (ddpm|fm) +(\d\.\d{3})/g)]
    const usage = usageLines.map((m) => [m[1], m[2], Number(m[3])] as const)
    expect(usage.map(([c, o]) => [c, o])).toEqual([['0', 'ddpm'], ['1', 'fm']])
    // top2 over two experts keeps both, and the router's weights sum to one.
    expect(usage[0][2] + usage[1][2]).toBeCloseTo(1, 2)
    const remote = await inProcess(...args, '--peer', server.multiaddrs()[0],
      '--out', join(dir, 'remote.png'), '--out-dir', join(dir, 'remote'), '--json')
    expect(JSON.parse(remote)).toMatchObject({ mode: 'remote', ensemble: report.ensemble })

    const grid = decodePng(await readFile(join(dir, 'local.png')))
    expect([grid.width, grid.height]).toEqual([2 * 30 + 2, 2 * 30 + 2])
    expect(await readFile(join(dir, 'remote.png'))).toEqual(await readFile(join(dir, 'local.png')))
    const files = (await readdir(join(dir, 'local'))).sort()
    expect(files).toEqual(['000-seven.png', '001-seven.png', '002-two.png', '003-two.png'])
    expect((await readdir(join(dir, 'remote'))).sort()).toEqual(files)
    for (const f of files) expect(await readFile(join(dir, 'remote', f))).toEqual(await readFile(join(dir, 'local', f)))
  })

  it('exits with NoAcceptableCheckpointError when a task has no acceptable checkpoint',
    { timeout: 60_000 }, async () => {
    await expect(inProcess(...['ensemble', '--run', run.runId,
      '--checkpoint', cids.poisoned, '--checkpoint', cids['expert-0'],
      '--bootstrap', liar.addr, '--bootstrap', trainer.addr,
      '--data-dir', join(dir, 'refuser'), '--scope', 'loopback', '--timeout', '10000']))
      .rejects.toMatchObject({ name: 'NoAcceptableCheckpointError', tasks: ['expert-1', 'router'] })
  })
})
