import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import * as dagJson from '@ipld/dag-json'
import { CID } from 'multiformats/cid'
import { createTestNode, type TestNode } from '../utils/create-node.js'

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describe('storage over bitswap (2 nodes on 127.0.0.1, fs blockstores)', () => {
  let a: TestNode
  let b: TestNode

  beforeAll(async () => {
    a = await createTestNode()
    b = await createTestNode({ bootstrap: [] })
    await b.swarm.libp2p.dial(a.swarm.getMultiaddrs()[0])
  })
  afterAll(async () => { await b?.stop(); await a?.stop() })

  it('adds bytes pinned on one node and fetches them by CID on the other', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17)
    const cid = await a.storage.addBytes(bytes)
    expect(await a.storage.has(cid)).toBe(true)
    expect(await a.storage.node.pins.isPinned(cid)).toBe(true)
    expect(await b.storage.has(cid)).toBe(false)
    const events: string[] = []
    const got = await b.storage.getBytes(cid, { timeoutMs: 20_000, onProgress: (e) => events.push(e.type) })
    expect(sha(got)).toBe(sha(bytes))
    expect(events).toContain('hddm:storage:get:done')
  })

  it('streams a file added as a stream and gets the same CID as addBytes', async () => {
    const bytes = randomBytes(2 * 1024 * 1024)
    const stream = (async function * () {
      for (let i = 0; i < bytes.length; i += 300_000) yield bytes.subarray(i, i + 300_000)
    })()
    const cid = await a.storage.addStream(stream)
    expect((await a.storage.addBytes(bytes)).equals(cid)).toBe(true)
    expect(sha(await b.storage.getBytes(cid, { timeoutMs: 20_000 }))).toBe(sha(bytes))
  })

  it('round-trips dag-json with identical CIDs on both nodes', async () => {
    const value = { run: 'x', k: 4, tasks: [{ id: 'expert-0' }, { id: 'router' }] }
    const cid = await a.storage.putJson(value)
    expect(dagJson.decode(await b.storage.getJsonBytes(cid, { timeoutMs: 10_000 }))).toEqual(value)
    expect((await b.storage.putJson(value)).equals(cid)).toBe(true)
  })

  it('reads a dag-json block as its bytes, for decoders with their own caps', async () => {
    const value = { manifest: 'm', n: 3 }
    const cid = await a.storage.putJson(value)
    const bytes = await b.storage.getJsonBytes(cid, { timeoutMs: 10_000 })
    expect(bytes).toEqual(dagJson.encode(value))
    expect(await b.storage.getJsonBytes(cid, { offline: true })).toEqual(bytes)
    const capped = b.storage.getJsonBytes(cid, { maxBytes: bytes.byteLength - 1 })
    await expect(capped).rejects.toHaveProperty('name', 'ContentTooLargeError')
    const raw = await a.storage.addBytes(randomBytes(100))
    await expect(b.storage.getJsonBytes(raw, { timeoutMs: 10_000 })).rejects.toHaveProperty('name', 'WrongCodecError')
  })

  it('refuses content over maxBytes before downloading it', async () => {
    const cid = await a.storage.addBytes(randomBytes(1024 * 1024))
    const capped = b.storage.getBytes(cid, { maxBytes: 1000, timeoutMs: 10_000 })
    await expect(capped).rejects.toHaveProperty('name', 'ContentTooLargeError')
  })

  it('gives FetchTimeoutError within the timeout for a CID nobody holds', async () => {
    const missing = CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')
    const started = performance.now()
    await expect(b.storage.getBytes(missing, { timeoutMs: 500 })).rejects.toHaveProperty('name', 'FetchTimeoutError')
    // Generous bound: the point is that it ends near the timeout, not that it hangs.
    expect(performance.now() - started).toBeLessThan(5_000)
  })

  it('gives BlockNotFoundError offline and AbortError when the caller aborts', async () => {
    const missing = CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')
    await expect(b.storage.getBytes(missing, { offline: true })).rejects.toHaveProperty('name', 'BlockNotFoundError')
    const controller = new AbortController()
    const pending = b.storage.getBytes(missing, { signal: controller.signal, timeoutMs: 30_000 })
    controller.abort()
    await expect(pending).rejects.toHaveProperty('name', 'AbortError')
  })
})
