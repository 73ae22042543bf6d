/**
 * `/hddm/file/1.0.0` between real nodes on 127.0.0.1: a whole UnixFS file on one stream, each
 * block verified against its CID as it arrives; a lying peer is caught and the fetch goes on
 * from an honest one; a fetch stops when its signal fires.
 */
import { randomBytes } from 'node:crypto'
import * as dagPb from '@ipld/dag-pb'
import { lpStream } from '@libp2p/utils'
import { UnixFS } from 'ipfs-unixfs'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { CID } from 'multiformats/cid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { streamFile } from '../../src/storage/file-fetch.js'
import { fileNode } from '../../src/storage/file-dag.js'
import { FILE_TRANSFER_PROTOCOL, MAX_BLOCK_FRAME_BYTES } from '../../src/storage/file-transfer.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { waitFor } from '../utils/wait.js'
import type { StorageProgressEvents } from '../../src/storage/options.js'

async function readBlock (node: TestNode, cid: CID): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of node.storage.node.blockstore.get(cid, { offline: true } as object)) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Serves the honest node's blocks in protocol order, but flips one byte of the block at `lieAt`. */
async function serveLies (liar: TestNode, honest: TestNode, lieAt: number): Promise<void> {
  await liar.swarm.libp2p.unhandle(FILE_TRANSFER_PROTOCOL)
  await liar.swarm.libp2p.handle(FILE_TRANSFER_PROTOCOL, async (stream) => {
    const lp = lpStream(stream, { maxDataLength: MAX_BLOCK_FRAME_BYTES })
    const stack = [CID.decode((await lp.read()).subarray())]
    for (let i = 0; stack.length > 0; i++) {
      const cid = stack.pop() as CID
      const bytes = Uint8Array.from(await readBlock(honest, cid))
      stack.push(...fileNode(cid, bytes).children.reverse())
      if (i === lieAt) bytes[bytes.length - 1] ^= 0xff
      await lp.write(bytes)
    }
    await stream.close()
  })
}

describe('file transfer protocol (real nodes on 127.0.0.1)', () => {
  let honest: TestNode
  let liar: TestNode
  let reader: TestNode
  // 3.5 MiB: a dag-pb root over four 1 MiB raw leaves (the last one short).
  const bytes = randomBytes(3.5 * 1024 * 1024)
  let cid: CID
  const nodes = (): TestNode[] => [reader, liar, honest].filter((n) => n !== undefined)

  beforeAll(async () => {
    honest = await createTestNode()
    liar = await createTestNode({ bootstrap: [honest.addr] })
    cid = await honest.storage.addBytes(bytes)
    await serveLies(liar, honest, 2)
  }, 60_000)
  afterAll(async () => { await Promise.all(nodes().map(async (n) => { await n.stop() })) })

  const freshReader = async (): Promise<TestNode> => {
    await reader?.stop()
    reader = await createTestNode({ bootstrap: [honest.addr, liar.addr] })
    const ready = (): boolean =>
      [honest, liar].every((n) => reader.swarm.libp2p.getConnections(n.swarm.peerId).length > 0)
    await waitFor(ready, 'connections to both peers', { timeoutMs: 15_000, intervalMs: 20 })
    return reader
  }

  it('fetches a multi-block file whole from a provider, verified, and keeps its blocks', async () => {
    const node = await freshReader()
    const events: StorageProgressEvents[] = []
    const onProgress = (e: StorageProgressEvents): void => { events.push(e) }
    const got = await node.storage.getBytes(cid, { providers: [honest.swarm.peerId], onProgress })
    expect(Buffer.from(got).equals(bytes)).toBe(true)
    expect(events.filter((e) => e.type === 'hddm:storage:transfer:block')).toHaveLength(5)
    expect(events.some((e) => e.type === 'hddm:storage:transfer:refused')).toBe(false)
    // Every block was stored: the file reads back with no network.
    expect(Buffer.from(await node.storage.getBytes(cid, { offline: true })).equals(bytes)).toBe(true)
  }, 60_000)

  it('refuses a peer that sends a wrong block and finishes the file from another peer', async () => {
    const node = await freshReader()
    const refused: Array<{ peer: string, error: string }> = []
    const providers = [liar.swarm.peerId, honest.swarm.peerId]
    const got = await node.storage.getBytes(cid, {
      providers,
      onProgress: (e) => { if (e.type === 'hddm:storage:transfer:refused') refused.push(e.detail) }
    })
    expect(Buffer.from(got).equals(bytes)).toBe(true)
    expect(refused).toEqual([{ cid, peer: liar.swarm.peerId.toString(), error: 'BlockVerificationError' }])
  }, 60_000)

  it('gives a slow reader a file larger than every stream buffer whole: the sender is paused', async () => {
    // 24 MiB: beyond lpStream's buffer (4 MiB by default, 20 MiB here) and the yamux stream's (16 MiB).
    const big = randomBytes(24 * 1024 * 1024)
    const bigCid = await honest.storage.addBytes(big)
    const node = await freshReader()
    const chunks: Uint8Array[] = []
    for await (const chunk of streamFile(node.swarm.libp2p, node.storage.node.blockstore, bigCid, honest.swarm.peerId,
      { signal: AbortSignal.timeout(60_000) })) {
      // A consumer that stalls (a parser, a slow disk) while loopback could deliver the whole file.
      // A deliberate stall, not a wait for a condition: the server meanwhile sends all it may.
      if (chunks.push(chunk) === 1) await new Promise((resolve) => setTimeout(resolve, 2000))
    }
    expect(Buffer.concat(chunks).equals(big)).toBe(true)
  }, 90_000)

  it('fails with BlockVerificationError from a lying peer alone, and stores none of its lie', async () => {
    const node = await freshReader()
    const signal = AbortSignal.timeout(30_000)
    const read = async (): Promise<void> => {
      for await (const _ of streamFile(node.swarm.libp2p, node.storage.node.blockstore, cid, liar.swarm.peerId,
        { signal })) { /* drain */ }
    }
    await expect(read()).rejects.toMatchObject({ name: 'BlockVerificationError' })
    // The lie was in the second leaf (block 2 in depth-first order): that CID is not stored.
    const second = fileNode(cid, await readBlock(honest, cid)).children[1]
    expect(await node.storage.has(second)).toBe(false)
  }, 60_000)

  it('stops with AbortError when the caller aborts mid-file', async () => {
    const node = await freshReader()
    const controller = new AbortController()
    const fetching = node.storage.getBytes(cid, {
      providers: [honest.swarm.peerId],
      signal: controller.signal,
      onProgress: (e) => { if (e.type === 'hddm:storage:transfer:block') controller.abort() }
    })
    await expect(fetching).rejects.toMatchObject({ name: 'AbortError' })
  }, 60_000)

  it('refuses a file larger than maxBytes with ContentTooLargeError', async () => {
    const node = await freshReader()
    const fetching = node.storage.getBytes(cid, { providers: [honest.swarm.peerId], maxBytes: 1024 * 1024 })
    await expect(fetching).rejects.toMatchObject({ name: 'ContentTooLargeError' })
  }, 60_000)

  it('refuses a DAG of links without content (4000 links to one 1-byte leaf) before walking it all', async () => {
    const leafBytes = Uint8Array.of(7)
    const leaf = CID.createV1(raw.code, await sha256.digest(leafBytes))
    const links = 4000
    const data = new UnixFS({ type: 'file', blockSizes: Array.from({ length: links }, () => 1n) }).marshal()
    const rootBytes = dagPb.encode(dagPb.prepare({
      Data: data, Links: Array.from({ length: links }, () => ({ Hash: leaf, Tsize: 1 }))
    }))
    const root = CID.createV1(dagPb.code, await sha256.digest(rootBytes))
    await honest.storage.node.blockstore.put(leaf, leafBytes)
    await honest.storage.node.blockstore.put(root, rootBytes)
    const node = await freshReader()
    // 4 000 content bytes, well under the cap: only the blocks' count gives the DAG away.
    const fetching = node.storage.getBytes(root, { providers: [honest.swarm.peerId], maxBytes: 1024 * 1024 })
    await expect(fetching).rejects.toMatchObject({ name: 'ContentTooLargeError' })
  }, 60_000)
})
