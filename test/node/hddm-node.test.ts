import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { allFinite, decodeCheckpoint } from '../../src/checkpoint/format.js'
import { createHddmNode, type HddmNode, type HddmNodeStatus } from '../../src/node/hddm-node.js'
import { createWorkerTaskTrainer } from '../../src/node/worker-trainer.js'
import { captureLog } from '../utils/log-capture.js'
import { waitFor } from '../utils/wait.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { FAST_LOOP, tinyRun } from './fixtures.js'
import { budgetOf } from '../../src/protocol/run-manifest.js'

const log = captureLog()

describe('HddmNode: two contributors train every task of a run (in-process, TCP on 127.0.0.1)', () => {
  const dirs: string[] = []
  const nodes: HddmNode[] = []
  afterAll(async () => {
    const stopped = Promise.all(nodes.map(async (node) => { await node.stop() }))
    const late = setTimeout(() => {
      console.error(`nodes still stopping after 100 s; they logged:\n${log.tail()}`)
    }, 100_000)
    await stopped.finally(() => { clearTimeout(late) })
    for (const dir of dirs) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  }, 150_000)

  it('claims distinct tasks, announces final checkpoints by CID, and the other node fetches and verifies them',
    { timeout: 400_000 }, async () => {
    // The DDPM task trains 18 steps against the others' 12: its own budget.
    const manifest = await tinyRun({ name: 'hddm-node-test', checkpointEvery: 6, leaseMs: 15_000, taskSteps: 18 })
    const dirA = await mkdtemp(join(tmpdir(), 'hddm-a-'))
    const dirB = await mkdtemp(join(tmpdir(), 'hddm-b-'))
    dirs.push(dirA, dirB)
    const net = { listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback' as const, heartbeatIntervalMs: 200 }
    const a = createHddmNode({
      ...net, dataDir: dirA, source: { manifest },
      trainer: createWorkerTaskTrainer({ backend: 'auto' }), loop: FAST_LOOP,
      logger: log.logger('A')
    })
    const statuses: HddmNodeStatus[] = []
    a.addEventListener('status', (e) => statuses.push(e.detail))
    nodes.push(a)
    await a.start()
    expect(a.status).toBe('started')

    const b = createHddmNode({
      ...net, dataDir: dirB, bootstrap: [a.multiaddrs()[0]], source: { run: a.runId },
      trainer: createWorkerTaskTrainer({ backend: 'auto' }), loop: FAST_LOOP,
      logger: log.logger('B')
    })
    nodes.push(b)
    const trainedBy = new Map<string, string>()
    for (const node of [a, b]) {
      node.addEventListener('task', (e) => {
        if (e.detail.phase === 'training') trainedBy.set(e.detail.task, node.peerId)
      })
    }
    await b.start()
    expect(b.runId).toBe(a.runId)

    const finals = (node: HddmNode): number => node.doneTasks().length
    await waitFor(() => finals(a) === 5 && finals(b) === 5,
      'verified final checkpoints of the 4 experts and the router on both nodes',
      { timeoutMs: 300_000, explain: () => `the nodes logged:\n${log.tail()}` })
    // Both contributors trained: the rendezvous choice spread them over tasks.
    expect(new Set(trainedBy.values()).size).toBe(2)

    for (const task of b.manifest.tasks) {
      const row = b.coverage().find((r) => r.task === task.id)!
      const announcedBy = row.checkpoint!.peer
      const fetcher = announcedBy === a.peerId ? b : a
      const { CID } = await import('multiformats/cid')
      const providers = [announcedBy]
      const bytes = await fetcher.blocks.getBytes(CID.parse(row.checkpoint!.cid), { timeoutMs: 30_000, providers })
        .catch((err) => {
          const what = `${task.id} from ${announcedBy}, connections ${fetcher.peers().connected}`
          throw new Error(`${String(err)} (${what}); the nodes logged:\n${log.tail()}`)
        })
      const checkpoint = decodeCheckpoint(bytes)
      expect(checkpoint.metadata.network).toBe(task.kind)
      expect(checkpoint.metadata.step).toBe(budgetOf(manifest, task).steps)
      expect(checkpoint.metadata.run).toBe(a.runId)
      expect(allFinite(checkpoint.tensors)).toBe(true)
      // The final export carries only the weights to sample with.
      const trainerState = (name: string): boolean => name.startsWith('raw.') || name.startsWith('adam.')
      expect([...checkpoint.tensors.keys()].some(trainerState)).toBe(false)
      expect(row.checkpoint!.heldOutLoss).toBeGreaterThan(0)
    }

    await a.stop()
    expect(statuses).toEqual(['starting', 'started', 'stopping', 'stopped'])
  })
})

describe('HddmNode: a contributor that starts before its bootstrap peer', () => {
  it('keeps redialling while alone and joins the peer once it comes up', { timeout: 120_000 }, async () => {
    const manifest = await tinyRun({ name: 'hddm-node-redial' })
    const peerDir = await mkdtemp(join(tmpdir(), 'hddm-late-peer-'))
    const nodeDir = await mkdtemp(join(tmpdir(), 'hddm-early-node-'))
    // The peer's address and identity, taken down before the contributor starts.
    const first = await createTestNode({ dataDir: peerDir })
    const addr = first.addr
    await first.stop()
    const net = { listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback' as const }
    const node = createHddmNode({
      ...net, dataDir: nodeDir, bootstrap: [addr], source: { manifest },
      logger: log.logger('E')
    })
    let peer: TestNode | undefined
    try {
      await node.start()
      expect(node.peers().connected).toBe(0)
      peer = await createTestNode({ dataDir: peerDir, listen: [addr.replace(/\/p2p\/.*$/, '')] })
      const peerId = peer.swarm.peerId.toString()
      const dialledIn = (): boolean => peer!.swarm.libp2p.getPeers().some((p) => p.toString() === node.peerId)
      await waitFor(dialledIn, 'the contributor to dial in',
        { timeoutMs: 60_000, explain: () => `peer ${peerId}; the node logged:\n${log.tail()}` })
    } finally {
      await node.stop()
      await peer?.stop()
      for (const dir of [peerDir, nodeDir]) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
    }
  })
})
