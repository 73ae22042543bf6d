/**
 * `/hddm/file/1.0.0`, the serving side (docs/PROTOCOL.md, "File transfer"): a peer sends the
 * root CID of a UnixFS file; we answer with every block of the file in depth-first order, one
 * length-prefixed frame each, and close. No CIDs travel with the blocks: the receiver knows
 * which block comes next from the blocks it has verified, so a frame can only be the one block
 * it expects. A file we do not hold whole is answered with an empty response (or cut short when
 * a block turns out missing): the receiver then asks someone else.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { lpStream } from '@libp2p/utils'
import { FsBlockstore } from 'blockstore-fs'
import { CID } from 'multiformats/cid'
import { fileNode, verifiable } from './file-dag.js'
import type { Logger } from '../logger.js'
import type { Libp2p, Stream } from '@libp2p/interface'
import type { Helia } from 'helia'

export const FILE_TRANSFER_PROTOCOL = '/hddm/file/1.0.0'
/** The request: one frame holding a binary CID. */
export const MAX_REQUEST_BYTES = 256
/** A UnixFS leaf is 1 MiB (importer default); a dag-pb node with 174 links is far smaller. */
export const MAX_BLOCK_FRAME_BYTES = 2 * 1024 * 1024
/** Blocks read from disk ahead of the one being sent, so that disk and network overlap. */
const READ_AHEAD = 8
/** Concurrent transfers served per connection: a checkpoint, a shard, and room for retries. */
const MAX_INBOUND_STREAMS = 8

export type LocalBlocks = Pick<Helia['blockstore'], 'get' | 'has'>

/** Registers the handler; returns the function that unregisters it. */
export async function serveFiles (
  libp2p: Pick<Libp2p, 'handle' | 'unhandle'>, blocks: LocalBlocks, log: Logger
): Promise<() => Promise<void>> {
  await libp2p.handle(FILE_TRANSFER_PROTOCOL, async (stream) => {
    await serveOne(stream, blocks).catch((err) => {
      log.debug('file transfer ended early', { error: (err as Error).message })
      stream.abort(err as Error)
    })
  }, { maxInboundStreams: MAX_INBOUND_STREAMS })
  return async () => { await libp2p.unhandle(FILE_TRANSFER_PROTOCOL) }
}

async function serveOne (stream: Stream, blocks: LocalBlocks): Promise<void> {
  const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
  const signal = AbortSignal.timeout(10_000)
  const root = CID.decode((await lp.read({ signal })).subarray())
  if (verifiable(root) && await blocks.has(root)) {
    for await (const block of walk(root, blocks)) await lp.write(block)
  }
  await stream.close()
}

/** The file's blocks in depth-first order, read a few ahead; stops when one is missing or not a file node. */
async function * walk (root: CID, blocks: LocalBlocks): AsyncGenerator<Uint8Array> {
  const read = async (cid: CID): Promise<Uint8Array> => await readBlock(blocks, cid)
  // A stack of pending reads: the top is the next block to send.
  const stack: Array<{ cid: CID, bytes?: Promise<Uint8Array> }> = [{ cid: root }]
  while (stack.length > 0) {
    for (let i = Math.max(0, stack.length - READ_AHEAD); i < stack.length; i++) {
      stack[i].bytes ??= read(stack[i].cid)
      // Reads never started yet still get a handler, so a failure surfaces only when awaited.
      stack[i].bytes?.catch(() => {})
    }
    const next = stack.pop() as { cid: CID, bytes: Promise<Uint8Array> }
    const bytes = await next.bytes
    const { children } = fileNode(next.cid, bytes)
    yield bytes
    for (let i = children.length - 1; i >= 0; i--) stack.push({ cid: children[i] })
  }
}

async function readBlock (blocks: LocalBlocks, cid: CID): Promise<Uint8Array> {
  const file = blockFile(blocks, cid)
  if (file !== undefined) {
    const bytes = await readFile(file).catch(() => undefined)
    if (bytes !== undefined) return bytes
  }
  const got = blocks.get(cid, { offline: true } as Record<string, unknown>)
  if (got instanceof Uint8Array) return got
  const chunks: Uint8Array[] = []
  for await (const chunk of got as AsyncIterable<Uint8Array>) chunks.push(chunk)
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0))
  let offset = 0
  for (const chunk of chunks) { out.set(chunk, offset); offset += chunk.byteLength }
  return out
}

/**
 * The file an FsBlockstore keeps `cid` in. Its `get` streams a block in 64 KiB reads, 3-10x
 * slower than one readFile (docs/RESULTS.md, "Swarm"), and the server sends no faster than it
 * reads. The layout is taken from the store's own sharding strategy (private in its types, so
 * checked at run time); any other store, or a miss, goes through `get`.
 */
function blockFile (blocks: LocalBlocks, cid: CID): string | undefined {
  if (!(blocks instanceof FsBlockstore)) return undefined
  const sharding = (blocks as unknown as { shardingStrategy?: { encode?: unknown } }).shardingStrategy
  if (typeof sharding?.encode !== 'function') return undefined
  const { dir, file } = sharding.encode.call(sharding, cid) as { dir: string, file: string }
  return join(blocks.path, dir, file)
}
