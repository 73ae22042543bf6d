/**
 * Reading a UnixFS file for Storage.getStream: a file this node lacks comes whole over
 * `/hddm/file/1.0.0` from a provider (else a connected peer) that has it, block after block on one
 * stream, since bitswap's want/block round trips made fetches 4-5x slower than a plain stream
 * (docs/RESULTS.md, "Swarm"). Bitswap (through UnixFS `cat`) reads what that leaves: a file whose
 * root is here already, one no peer serves, the rest of one every peer broke off.
 */
import { CustomProgressEvent } from '../progress.js'
import { ContentTooLargeError, NotAFileError } from './errors.js'
import { transferFile, type FileFetchLibp2p } from './file-fetch.js'
import { toPeers, toProviders, type StorageGetOptions } from './options.js'
import type { CatOptions, UnixFS } from '@helia/unixfs'
import type { Helia } from 'helia'
import type { CID } from 'multiformats/cid'

/**
 * UnixFS leaves (1 MiB each) bitswap wants at once. The exporter's default is unbounded, and a
 * provider answers a whole wantlist on one bitswap stream, so a large file could outgrow the
 * receiver's per-stream read buffer (16 MiB, see network/libp2p.ts) before bitswap starts
 * reading: the stream is then dropped and the fetch hangs. 8 MiB in flight keeps well under it.
 */
const BLOCK_READ_CONCURRENCY = 8

export interface FileReader {
  helia: Pick<Helia, 'blockstore'>
  fs: Pick<UnixFS, 'stat' | 'cat'>
  libp2p: FileFetchLibp2p
}

/** The file's content in order; `maxBytes` is checked against the declared size and the bytes streamed. */
export async function * readFile (r: FileReader, cid: CID, options: StorageGetOptions,
  signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const { maxBytes, onProgress } = options
  let total = 0
  let received = 0
  const sized = (evt: { type: string, detail: unknown }): void => {
    if (evt.type === 'hddm:storage:get:size') total = (evt.detail as { bytes: number }).bytes
  }
  const count = (chunk: Uint8Array): Uint8Array => {
    received += chunk.byteLength
    // The root's declared size can lie; the bytes actually streamed cannot.
    if (maxBytes !== undefined && received > maxBytes) {
      throw new ContentTooLargeError(`${cid.toString()} streamed more than ${maxBytes} bytes`)
    }
    onProgress?.(new CustomProgressEvent('hddm:storage:get:chunk', { cid, received, total }))
    return chunk
  }
  let position = 0
  if (options.offline !== true && !(await r.helia.blockstore.has(cid))) {
    const transfer = transferFile(r.libp2p, r.helia.blockstore, cid, toPeers(options.providers), {
      signal, maxBytes, onProgress: (evt) => { sized(evt); onProgress?.(evt) }
    })
    let next = await transfer.next()
    for (; next.done !== true; next = await transfer.next()) yield count(next.value)
    position = next.value.position
    if (next.value.complete) {
      onProgress?.(new CustomProgressEvent('hddm:storage:get:done', { cid, bytes: received }))
      return
    }
  }
  // `blockReadConcurrency` is passed through to ipfs-unixfs-exporter; CatOptions omits it.
  const fetchOptions: CatOptions & { blockReadConcurrency: number } = {
    signal,
    offline: options.offline,
    providers: toProviders(options.providers),
    blockReadConcurrency: BLOCK_READ_CONCURRENCY
  }
  const stat = await r.fs.stat(cid, fetchOptions)
  if (stat.type === 'directory') throw new NotAFileError(`${cid.toString()} is a UnixFS directory`)
  total = Number(stat.size)
  if (position === 0) onProgress?.(new CustomProgressEvent('hddm:storage:get:size', { cid, bytes: total }))
  if (maxBytes !== undefined && total > maxBytes) {
    throw new ContentTooLargeError(`${cid.toString()} is ${total} bytes, over the limit of ${maxBytes}`)
  }
  for await (const chunk of r.fs.cat(cid, { ...fetchOptions, offset: position })) yield count(chunk)
  onProgress?.(new CustomProgressEvent('hddm:storage:get:done', { cid, bytes: received }))
}
