/**
 * `/hddm/file/1.0.0`, the fetching side: ask one peer for a whole UnixFS file and store its
 * blocks as they arrive, each verified against the CID it must have before it is stored or its
 * links are followed. The expected CIDs come only from the root we asked for and from blocks
 * already verified, so a peer can send the right blocks or be caught; it cannot make us store
 * anything else. A lying peer fails with BlockVerificationError; `fetchFileFrom` tries the next.
 */
import { lpStream } from '@libp2p/utils'
import { MAX_STREAM_READ_BUFFER_BYTES } from '../network/libp2p.js'
import { CustomProgressEvent } from '../progress.js'
import { ContentTooLargeError, TransferProtocolError } from './errors.js'
import { fileNode, verifiable, verifyBlock } from './file-dag.js'
import { StreamFlow } from './file-flow.js'
import { FILE_TRANSFER_PROTOCOL, MAX_BLOCK_FRAME_BYTES } from './file-transfer.js'
import type { StorageProgressEvents } from './options.js'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Helia } from 'helia'
import type { CID } from 'multiformats/cid'

/**
 * Block writes in flight while the next frames are read (verified blocks only, at most 2 MiB
 * each): a slow disk then delays the end of the transfer, not every frame read before it.
 */
const WRITES_IN_FLIGHT = 8
/**
 * Block bytes a file of n content bytes may take: UnixFS's own links and framing cost well under
 * 1%, so more than this is a DAG built to make us walk and store links without content.
 */
const blockBytesFor = (contentBytes: number): number => contentBytes * 1.05 + (64 << 10)
/**
 * What a block costs against that budget at least: the importer's leaves are 256 KiB to 1 MiB,
 * so only a hostile DAG (thousands of links to one tiny leaf) ever pays this floor.
 */
const MIN_BLOCK_CHARGE = 1024
/** Unread bytes a transfer lets pile up before it pauses the sender: a few leaves. */
const BACKLOG_BYTES = 4 * 1024 * 1024
/** Connected peers asked, in turn, when the caller names no provider. */
const MAX_CONNECTED_CANDIDATES = 6

export interface FileFetchOptions {
  signal: AbortSignal
  maxBytes?: number
  onProgress?: (evt: StorageProgressEvents) => void
}

export type FileFetchLibp2p = Pick<Libp2p, 'dialProtocol' | 'getConnections' | 'peerStore'>

/** Where a transfer got to: whole, or how many content bytes it gave before every peer failed. */
export interface TransferOutcome { complete: boolean, position: number }

/**
 * Streams the file's content from `peers` (else connected peers that speak the protocol), one
 * after another until one sends it whole; a peer taken over from mid-file resends from the
 * start and what was already given is skipped. A peer that lies, breaks off or lacks the file
 * is reported (`hddm:storage:transfer:refused`) and skipped. Size caps and the caller's signal
 * end the whole transfer, whatever peer is asked.
 */
export async function * transferFile (libp2p: FileFetchLibp2p, blocks: Pick<Helia['blockstore'], 'put'>, cid: CID,
  peers: Array<PeerId | Multiaddr>, options: FileFetchOptions): AsyncGenerator<Uint8Array, TransferOutcome> {
  let position = 0
  if (!verifiable(cid)) return { complete: false, position }
  const candidates = peers.length > 0 ? peers : await connectedServers(libp2p)
  for (const peer of candidates) {
    try {
      let offset = 0
      for await (const chunk of streamFile(libp2p, blocks, cid, peer, options)) {
        const end = offset + chunk.byteLength
        if (end > position) {
          yield chunk.subarray(Math.max(0, position - offset))
          position = end
        }
        offset = end
      }
      return { complete: true, position }
    } catch (err) {
      if (options.signal.aborted || err instanceof ContentTooLargeError) throw err
      const detail = { cid, peer: peer.toString(), error: (err as Error).name }
      options.onProgress?.(new CustomProgressEvent('hddm:storage:transfer:refused', detail))
    }
  }
  return { complete: false, position }
}

/**
 * The whole file from one peer: each block is verified, then stored (in the background) and its
 * content yielded in file order. Throws on the first wrong or missing block.
 */
export async function * streamFile (libp2p: Pick<Libp2p, 'dialProtocol'>, blocks: Pick<Helia['blockstore'], 'put'>,
  root: CID, peer: PeerId | Multiaddr, options: FileFetchOptions): AsyncGenerator<Uint8Array> {
  const { signal, maxBytes } = options
  const from = peer.toString()
  const stream = await libp2p.dialProtocol(peer, FILE_TRANSFER_PROTOCOL, { signal })
  // Paused above BACKLOG_BYTES unread (file-flow.ts); what is in flight then, at most one
  // yamux window (the stream's read buffer bounds it), can still land on top of the backlog.
  const flow = new StreamFlow(stream, BACKLOG_BYTES)
  const lp = lpStream(stream, {
    maxDataLength: MAX_BLOCK_FRAME_BYTES, maxBufferSize: BACKLOG_BYTES + MAX_STREAM_READ_BUFFER_BYTES
  })
  const writes = new Set<Promise<void>>()
  let received = 0
  let blockBytes = 0
  let settled = false
  try {
    await lp.write(root.bytes, { signal })
    const expected: CID[] = [root]
    while (expected.length > 0) {
      const cid = expected.pop() as CID
      const bytes = await readFrame(lp, signal, from, cid)
      flow.consumedFrame(bytes.byteLength)
      await verifyBlock(cid, bytes, from)
      const node = fileNode(cid, bytes)
      if (cid === root) {
        options.onProgress?.(new CustomProgressEvent('hddm:storage:get:size', { cid, bytes: node.size }))
        if (maxBytes !== undefined && node.size > maxBytes) {
          throw new ContentTooLargeError(`${root.toString()} is ${node.size} bytes, over the limit of ${maxBytes}`)
        }
      }
      received += node.content.byteLength
      blockBytes += Math.max(bytes.byteLength, MIN_BLOCK_CHARGE)
      // The root's declared size can lie; the bytes actually sent cannot.
      if (maxBytes !== undefined && received > maxBytes) {
        throw new ContentTooLargeError(`${root.toString()} streamed more than ${maxBytes} bytes`)
      }
      if (maxBytes !== undefined && blockBytes > blockBytesFor(maxBytes)) {
        throw new ContentTooLargeError(`${root.toString()} took more than ${blockBytesFor(maxBytes)} bytes of blocks ` +
          `for at most ${maxBytes} bytes of content`)
      }
      for (let i = node.children.length - 1; i >= 0; i--) expected.push(node.children[i])
      const write = Promise.resolve(blocks.put(cid, bytes, { signal })).then(() => { writes.delete(write) })
      writes.add(write)
      if (writes.size >= WRITES_IN_FLIGHT) await Promise.race(writes)
      options.onProgress?.(new CustomProgressEvent('hddm:storage:transfer:block', { cid: root, received }))
      if (node.content.byteLength > 0) yield node.content
    }
    await Promise.all(writes)
    settled = true
    await stream.close({ signal }).catch(() => {})
  } catch (err) {
    settled = true
    await Promise.allSettled(writes)
    // A reset, not a polite close: the server stops reading and sending at once.
    stream.abort(err as Error)
    throw err
  } finally {
    // A consumer that stops early (break, return) leaves the stream open otherwise.
    if (!settled) stream.abort(new TransferProtocolError('the reader stopped early'))
  }
}

async function readFrame (lp: ReturnType<typeof lpStream>, signal: AbortSignal, from: string,
  cid: CID): Promise<Uint8Array> {
  try {
    return (await lp.read({ signal })).subarray()
  } catch (err) {
    if (signal.aborted) throw err
    throw new TransferProtocolError(`peer ${from} stopped before block ${cid.toString()}: ${(err as Error).message}`)
  }
}

async function connectedServers (libp2p: FileFetchLibp2p): Promise<PeerId[]> {
  const out: PeerId[] = []
  for (const connection of libp2p.getConnections()) {
    const peer = connection.remotePeer
    if (out.some((p) => p.equals(peer))) continue
    const info = await libp2p.peerStore.get(peer).catch(() => undefined)
    if (info?.protocols.includes(FILE_TRANSFER_PROTOCOL) === true) out.push(peer)
    if (out.length >= MAX_CONNECTED_CANDIDATES) break
  }
  return out
}
