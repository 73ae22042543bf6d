import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { withBitswap } from '@helia/bitswap'
import { dagJson, type DAGJSON } from '@helia/dag-json'
import { unixfs, type UnixFS } from '@helia/unixfs'
import * as dagJsonCodec from '@ipld/dag-json'
import type { Libp2p, ServiceMap } from '@libp2p/interface'
import { FsBlockstore } from 'blockstore-fs'
import { FsDatastore } from 'datastore-fs'
import { createHeliaLight, type Helia } from 'helia'
import { stopInOrder } from '../lifecycle.js'
import { silentLogger, type Logger } from '../logger.js'
import { NotStartedError } from '../network/errors.js'
import { CustomProgressEvent } from '../progress.js'
import { BlockNotFoundError, ContentTooLargeError, NotAFileError, WrongCodecError } from './errors.js'
import { DiskFullError, isDiskFull } from '../hddm-error.js'
import { fetchDeadline } from './fetch-signal.js'
import { readFile } from './file-read.js'
import { serveFiles } from './file-transfer.js'
import { SwarmRouter } from './libp2p-router.js'
import { toProviders, type StorageGetOptions, type StorageOptions } from './options.js'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import type { CID } from 'multiformats/cid'

export type { StorageGetOptions, StorageOptions, StorageProgressEvents } from './options.js'

export interface StorageInit {
  /** Blocks go to `<dataDir>/blocks`, Helia's datastore (pins) to `<dataDir>/datastore`. */
  dataDir: string
  logger?: Logger
}

export interface StorageComponents {
  /** A started libp2p node; storage adds bitswap to it and never stops it. */
  libp2p: Libp2p
}

/**
 * Content-addressed storage over the swarm: Helia built light (fs stores, bitswap, routing only
 * through the swarm's own DHT, so nothing reaches public infrastructure). What this node adds
 * is pinned.
 */
export class Storage {
  private readonly init: StorageInit
  private readonly components: StorageComponents
  private readonly log: Logger
  private helia?: Helia
  private fs?: UnixFS
  private json?: DAGJSON
  private blockstore?: FsBlockstore
  private datastore?: FsDatastore
  private unserve?: () => Promise<void>

  constructor (init: StorageInit, components: StorageComponents) {
    this.init = init
    this.components = components
    this.log = (init.logger ?? silentLogger).child('storage')
  }

  async start (): Promise<void> {
    if (this.helia != null) return
    await mkdir(this.init.dataDir, { recursive: true, mode: 0o700 })
    this.blockstore = new FsBlockstore(join(this.init.dataDir, 'blocks'))
    this.datastore = new FsDatastore(join(this.init.dataDir, 'datastore'))
    await this.blockstore.open()
    await this.datastore.open()
    const helia = createHeliaLight({
      blockstore: this.blockstore,
      datastore: this.datastore,
      codecs: [dagJsonCodec],
      routers: [new SwarmRouter(this.components.libp2p)],
      // Helia's debug logs go where the node's libp2p logs go (the `DEBUG=` namespaces).
      logger: this.components.libp2p.logger
    })
    // withLibp2pLight would create a second libp2p node; the swarm already owns one, so we attach
    // it the same way (a `libp2p` property) and let bitswap find it there.
    Object.defineProperty(helia, 'libp2p', { value: this.components.libp2p, enumerable: true })
    this.helia = withBitswap(helia as unknown as HeliaWithLibp2p<ServiceMap>)
    await this.helia.start()
    this.fs = unixfs(this.helia)
    this.json = dagJson(this.helia)
    this.unserve = await serveFiles(this.components.libp2p, this.blockstore, this.log)
    this.log.info('storage started', { dataDir: this.init.dataDir })
  }

  async stop (): Promise<void> {
    await stopInOrder([
      ['file transfer', async () => { await this.unserve?.() }],
      ['helia', async () => { await this.helia?.stop() }],
      ['blockstore', async () => { await this.blockstore?.close() }],
      ['datastore', async () => { await this.datastore?.close() }]
    ], this.log)
    this.helia = this.fs = this.json = this.blockstore = this.datastore = this.unserve = undefined
  }

  /** Stores bytes as a UnixFS file (1 MiB raw leaves, CIDv1) and pins it. */
  async addBytes (bytes: Uint8Array, options: StorageOptions = {}): Promise<CID> {
    return await this.writing(`${bytes.byteLength} bytes`, async () => {
      const cid = await this.unixfs().addBytes(bytes, { signal: options.signal })
      options.onProgress?.(new CustomProgressEvent('hddm:storage:add:done', { cid, bytes: bytes.byteLength }))
      await this.pin(cid, options)
      return cid
    })
  }

  /** Streams a large file (a checkpoint, a data shard) into UnixFS without holding it whole, and pins it. */
  async addStream (source: AsyncIterable<Uint8Array>, options: StorageOptions = {}): Promise<CID> {
    let bytes = 0
    const counted = (async function * () {
      for await (const chunk of source) {
        bytes += chunk.byteLength
        yield chunk
      }
    })()
    return await this.writing('a stream', async () => {
      const cid = await this.unixfs().addByteStream(counted, { signal: options.signal })
      options.onProgress?.(new CustomProgressEvent('hddm:storage:add:done', { cid, bytes }))
      await this.pin(cid, options)
      return cid
    })
  }

  /** Stores a value as dag-json (the CID is the same wherever the same value is stored) and pins it. */
  async putJson (value: unknown, options: StorageOptions = {}): Promise<CID> {
    return await this.writing('a dag-json value', async () => {
      const cid = await this.dagJson().add(value, { signal: options.signal })
      options.onProgress?.(new CustomProgressEvent('hddm:storage:add:done', { cid, bytes: 0 }))
      await this.pin(cid, options)
      return cid
    })
  }

  /**
   * The bytes of a dag-json block, not decoded: for decoders that check their own size cap and
   * schema (run and ensemble manifests), so that what a peer sends is bounded before it is
   * parsed. `maxBytes` is checked while the block is read.
   */
  async getJsonBytes (cid: CID, options: StorageGetOptions = {}): Promise<Uint8Array> {
    if (cid.code !== dagJsonCodec.code) throw new WrongCodecError(`${cid.toString()} is not a dag-json CID`)
    const deadline = fetchDeadline(`dag-json ${cid.toString()}`, options.signal, options.timeoutMs)
    const getOptions = { signal: deadline.signal, offline: options.offline, providers: toProviders(options.providers) }
    const chunks: Uint8Array[] = []
    let total = 0
    try {
      for await (const chunk of this.heliaNode().blockstore.get(cid, getOptions)) {
        total += chunk.byteLength
        if (options.maxBytes !== undefined && total > options.maxBytes) {
          throw new ContentTooLargeError(`${cid.toString()} is more than ${options.maxBytes} bytes`)
        }
        chunks.push(chunk)
      }
    } catch (err) {
      throw this.translate(err, cid, deadline.translate)
    }
    return concat(chunks, total)
  }

  /** Reads a whole UnixFS file, from the local store or the swarm. */
  async getBytes (cid: CID, options: StorageGetOptions = {}): Promise<Uint8Array> {
    const chunks: Uint8Array[] = []
    let total = 0
    for await (const chunk of this.getStream(cid, options)) {
      chunks.push(chunk)
      total += chunk.byteLength
    }
    return concat(chunks, total)
  }

  /**
   * Streams a UnixFS file chunk by chunk (see file-read.ts: the file transfer protocol first, then
   * bitswap); the size is checked against `maxBytes` before any data moves.
   */
  async * getStream (cid: CID, options: StorageGetOptions = {}): AsyncGenerator<Uint8Array> {
    const deadline = fetchDeadline(`file ${cid.toString()}`, options.signal, options.timeoutMs)
    const reader = { helia: this.heliaNode(), fs: this.unixfs(), libp2p: this.components.libp2p }
    try {
      yield * readFile(reader, cid, options, deadline.signal)
    } catch (err) {
      throw this.translate(err, cid, deadline.translate)
    }
  }

  /**
   * Announces in the swarm DHT that this node provides `cid`, so that peers can fetch it by CID
   * alone. Publish a checkpoint's CID on gossip only after this resolves.
   */
  async provide (cid: CID, options: StorageGetOptions = {}): Promise<void> {
    const deadline = fetchDeadline(`provide ${cid.toString()}`, options.signal, options.timeoutMs)
    try {
      await this.heliaNode().routing.provide(cid, { signal: deadline.signal })
    } catch (err) {
      throw deadline.translate(err)
    }
    options.onProgress?.(new CustomProgressEvent('hddm:storage:provide:done', { cid }))
  }

  /** Whether the root block is in the local blockstore (no network). */
  async has (cid: CID): Promise<boolean> {
    return await this.heliaNode().blockstore.has(cid)
  }

  /** The Helia node, for codecs this service does not wrap (e.g. a future car export). */
  get node (): Helia { return this.heliaNode() }

  private async pin (cid: CID, options: StorageOptions): Promise<void> {
    const pins = this.heliaNode().pins
    if (!(await pins.isPinned(cid, { signal: options.signal }))) {
      for await (const _ of pins.add(cid, { signal: options.signal })) { /* walk the DAG to pin every block */ }
    }
    options.onProgress?.(new CustomProgressEvent('hddm:storage:pin:done', { cid }))
  }

  /** A full disk fails a write with a typed error; blocks already stored stay valid (content-addressed). */
  private async writing<T> (what: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write()
    } catch (err) {
      if (!isDiskFull(err)) throw err
      throw new DiskFullError(`no space left in ${this.init.dataDir} to store ${what}`, { cause: err })
    }
  }

  private translate (err: unknown, cid: CID, byDeadline: (err: unknown) => unknown): unknown {
    if (isDiskFull(err)) {
      const message = `no space left in ${this.init.dataDir} to store the blocks of ${cid.toString()}`
      return new DiskFullError(message, { cause: err })
    }
    if ((err as Error)?.name === 'BlockNotFoundWhileOfflineError') {
      return new BlockNotFoundError(`${cid.toString()} is not in the local blockstore`)
    }
    return byDeadline(err)
  }

  private heliaNode (): Helia {
    if (this.helia == null) throw new NotStartedError('storage is not started')
    return this.helia
  }

  private unixfs (): UnixFS { this.heliaNode(); return this.fs as UnixFS }
  private dagJson (): DAGJSON { this.heliaNode(); return this.json as DAGJSON }
}

function concat (chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) { out.set(chunk, offset); offset += chunk.byteLength }
  return out
}

export function createStorage (init: StorageInit, components: StorageComponents): Storage {
  return new Storage(init, components)
}
