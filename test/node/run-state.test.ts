import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRun } from '../../src/node/run-creation.js'
import { RunState } from '../../src/node/run-state.js'
import { mergeCoverage } from '../../src/node/coverage.js'
import { handleCoverage, queryCoverage } from '../../src/node/coverage-protocol.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { waitFor } from '../utils/wait.js'
import { tinyRun } from './fixtures.js'
import type { ResolvedRunManifest } from '../../src/protocol/run-manifest.js'

describe('run state: two runs in one swarm (3 nodes on 127.0.0.1)', () => {
  const nodes: TestNode[] = []
  const runs: Array<{ id: string, manifest: ResolvedRunManifest }> = []
  // states[node][run]
  const states: RunState[][] = []

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) nodes.push(await createTestNode())
    for (const n of nodes.slice(1)) await n.swarm.libp2p.dial(nodes[0].swarm.getMultiaddrs()[0])
    // Leases outlast any pause of a loaded machine between a claim and the checks that read it.
    for (const name of ['run-x', 'run-y']) {
      const created = await createRun(await tinyRun({ name, images: 200, leaseMs: 60_000 }), nodes[0].storage)
      runs.push({ id: created.runId.toString(), manifest: created.manifest })
    }
    for (const n of nodes) {
      states.push(runs.map(({ id, manifest }) => {
        const self = n.swarm.peerId.toString()
        const state = new RunState({ runId: id, manifest, self, clock: Date.now }, { gossip: n.gossip })
        state.start()
        return state
      }))
    }
    // Wait until every node sees the others subscribed to both topics.
    await waitFor(() => states.every((s) => s.every((state) => state.peers().length === 2)), 'subscriptions', 20_000)
  })
  afterAll(async () => {
    for (const s of states) for (const state of s) state.stop()
    for (const n of nodes) await n.stop()
  })

  it('keeps claims, progress and checkpoints of one run out of the other run\'s table', async () => {
    const [x, y] = [0, 1]
    await states[1][x].claim('expert-0')
    await states[2][y].claim('expert-0')
    await states[2][y].progress({ task: 'expert-0', step: 7, loss: 0.5 })
    const peer1 = nodes[1].swarm.peerId.toString()
    const peer2 = nodes[2].swarm.peerId.toString()
    const holder = (run: number): string | undefined => states[0][run].table.holderOf('expert-0', Date.now())
    await waitFor(() => holder(x) === peer1 && holder(y) === peer2, 'both claims', 20_000)
    for (const s of states) {
      const holderX = s[x].table.holderOf('expert-0', Date.now())
      const holderY = s[y].table.holderOf('expert-0', Date.now())
      expect(holderX === undefined || holderX === peer1).toBe(true)
      expect(holderY === undefined || holderY === peer2).toBe(true)
    }
    // Nothing was refused either: the runs never even see each other's messages.
    for (const n of nodes) {
      for (const run of runs) {
        const notAccepted = Object.keys(n.gossip.counters(run.id)).filter((k) => k !== 'accept')
        expect(notAccepted).toEqual([])
      }
    }
  })

  it('answers coverage queries for its run only, and merges views by holder and best checkpoint', async () => {
    const [x] = [0]
    // Its own claim: this test must not depend on the first test's.
    await states[1][x].claim('expert-0')
    const claimKnown = (): boolean => states[1][x].isHeld('expert-0') &&
      states[2][x].coverage().some((r) => r.task === 'expert-0' && !r.free)
    await waitFor(claimKnown, 'the claim to be known', 20_000)
    await handleCoverage(nodes[1].swarm.libp2p, (run) => run === runs[x].id ? states[1][x].coverage() : undefined)
    const remote = await queryCoverage(nodes[0].swarm.libp2p, nodes[1].swarm.peerId, runs[x].id)
    const remoteHolder = remote.find((r) => r.task === 'expert-0')?.holders[0]?.peer
    expect(remoteHolder).toBe(nodes[1].swarm.peerId.toString())
    const otherRunQuery = queryCoverage(nodes[0].swarm.libp2p, nodes[1].swarm.peerId, runs[1].id)
    await expect(otherRunQuery).rejects.toHaveProperty('name', 'CoverageQueryError')
    const merged = mergeCoverage([states[2][x].coverage(), remote])
    expect(merged.map((r) => r.task)).toEqual(runs[x].manifest.tasks.map((t) => t.id))
    expect(merged.find((r) => r.task === 'expert-0')?.free).toBe(false)
  })
})
