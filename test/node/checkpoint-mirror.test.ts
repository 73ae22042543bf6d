import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it, expect, afterAll } from 'vitest'
import { TypedEventEmitter } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { CheckpointMirror } from '../../src/node/checkpoint-mirror.js'
import type { RunStateEvents } from '../../src/node/run-state.js'
import type { GossipMessage } from '../../src/protocol/messages.js'
import type { ResolvedRunManifest } from '../../src/protocol/run-manifest.js'
import { maxCheckpointBytes } from '../../src/protocol/fetch-limits.js'

/** What the mirror reads of a run: its presets and K (the tiny presets of the tests). */
type MirroredRun = Parameters<typeof maxCheckpointBytes>[0] & ResolvedRunManifest
const RUN = { model: { expert: 'tiny', router: 'router-tiny' }, k: 4, tasks: [] } as unknown as MirroredRun

async function bytesUnder (dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size
  }
  return total
}

describe('checkpoint mirror', () => {
  const nodes: TestNode[] = []
  afterAll(async () => { await Promise.all(nodes.map(async n => { await n.stop() })) })

  it('keeps an announced checkpoint fetchable after its announcer is gone', async () => {
    const [trainer, mirrorNode, successor] = await Promise.all([createTestNode(), createTestNode(), createTestNode()])
    nodes.push(mirrorNode, successor)
    await mirrorNode.swarm.libp2p.dial(multiaddr(trainer.addr))
    await successor.swarm.libp2p.dial(multiaddr(mirrorNode.addr))

    const bytes = Buffer.alloc(3 << 20)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff
    const cid = await trainer.storage.addBytes(bytes)
    const events = Object.assign(new TypedEventEmitter<RunStateEvents>(), { manifest: RUN })
    const mirror = new CheckpointMirror({ timeoutMs: 20_000 }, { state: events, storage: mirrorNode.storage })
    mirror.start()
    const announce = (step: number, c = cid.toString(), local = false): void => {
      const message = {
        v: 1, type: 'checkpoint', run: 'r', peer: trainer.swarm.peerId.toString(), ts: Date.now(),
        task: 'expert-0', cid: c, step, final: false, heldOutLoss: 0.5
      } as unknown as GossipMessage
      events.safeDispatchEvent('message', { detail: { run: 'r', message, from: message.peer, local } })
    }
    announce(10, cid.toString(), true)  // our own announcement: nothing to fetch
    await mirror.idle()
    expect(await mirrorNode.storage.has(cid)).toBe(false)
    announce(10)
    await mirror.idle()
    expect(await mirrorNode.storage.has(cid)).toBe(true)

    await trainer.stop()  // the trainer dies; the successor gets the checkpoint from the mirror
    const fetched = await successor.storage.getBytes(cid, { timeoutMs: 20_000 })
    // Buffer.equals, not toEqual: a deep compare of 3 MB element by element takes half a minute.
    expect(Buffer.from(fetched).equals(bytes)).toBe(true)
    await mirror.stop()
  })

  it('does not fetch an announced CID larger than any checkpoint of the run', async () => {
    const [announcer, mirrorNode] = await Promise.all([createTestNode(), createTestNode()])
    nodes.push(announcer, mirrorNode)
    await mirrorNode.swarm.libp2p.dial(multiaddr(announcer.addr))
    const limit = maxCheckpointBytes(RUN)
    // Distinct bytes throughout, so that its blocks do not deduplicate to a few.
    const content = new Uint8Array(limit + 1)
    let x = 2463534242
    for (let i = 0; i < content.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; content[i] = x & 0xff }
    const huge = await announcer.storage.addBytes(content)
    const events = Object.assign(new TypedEventEmitter<RunStateEvents>(), { manifest: RUN })
    const mirror = new CheckpointMirror({ timeoutMs: 20_000 }, { state: events, storage: mirrorNode.storage })
    mirror.start()
    const message = {
      v: 1, type: 'checkpoint', run: 'r', peer: announcer.swarm.peerId.toString(), ts: Date.now(),
      task: 'expert-0', cid: huge.toString(), step: 1, final: false, heldOutLoss: 0.5
    } as unknown as GossipMessage
    events.safeDispatchEvent('message', { detail: { run: 'r', message, from: message.peer, local: false } })
    await mirror.idle()
    // Refused on the root's declared size: of its ~18 MB, at most the root block was stored.
    expect(await bytesUnder(join(mirrorNode.dataDir, 'blocks'))).toBeLessThan(1 << 20)
    await mirror.stop()
  })
})
