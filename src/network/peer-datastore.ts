/**
 * The datastore behind libp2p's peer store: held in memory, written to disk behind the writes.
 *
 * libp2p's peer store rewrites a peer's whole record on every merge, even when nothing but its
 * `updated` stamp changed (@libp2p/peer-store 12, `#saveIfDifferent` always puts), and libp2p
 * merges on every protocol stream a connection opens: pings, identify, DHT queries, gossipsub.
 * Over `datastore-fs` that is a file read plus an atomic file write (temp file, rename, mkdir)
 * per stream: about 10 writes a second for each idle node of a 32-node swarm, and 40% of the
 * CPU of 32 idle nodes in one process (docs/RESULTS.md, "The peer store, idle CPU and the
 * gossip tail"; test/bench/peer-store.ts).
 *
 * Here every read is served from memory (loaded from disk at open), every write lands in
 * memory and marks its key dirty, and a flush every `flushIntervalMs` (and at close) writes each
 * dirty key once with its latest value. Peer records are soft state, so a crash loses at most
 * one interval of address and protocol updates, which the next identify restores. A failed disk
 * write (a full disk) keeps the key dirty for the next flush: nothing held in memory is lost.
 */
import { BaseDatastore } from 'datastore-core'
import { FsDatastore } from 'datastore-fs'
import { Key, type Pair } from 'interface-datastore'
import { NotFoundError } from 'interface-store'
import { silentLogger, type Logger } from '../logger.js'

export interface PeerDatastoreInit {
  /** The directory of the on-disk copy (one file per key, as datastore-fs writes it). */
  path: string
  /** @default 10000 */
  flushIntervalMs?: number
  logger?: Logger
}

export class PeerDatastore extends BaseDatastore {
  private readonly data = new Map<string, Uint8Array>()
  /** Keys whose disk copy is stale: to write (present in memory) or to delete (absent). */
  private readonly dirty = new Set<string>()
  private readonly disk: FsDatastore
  private readonly flushIntervalMs: number
  private readonly log: Logger
  private timer?: ReturnType<typeof setInterval>
  private flushing?: Promise<void>

  constructor (init: PeerDatastoreInit) {
    super()
    this.disk = new FsDatastore(init.path)
    this.flushIntervalMs = init.flushIntervalMs ?? 10_000
    this.log = init.logger ?? silentLogger
  }

  /** Loads the disk copy into memory and starts flushing. */
  async open (): Promise<void> {
    await this.disk.open()
    for await (const { key, value } of this.disk.query({})) this.data.set(key.toString(), value)
    this.timer = setInterval(() => { void this.flush() }, this.flushIntervalMs)
    this.timer.unref()
  }

  /** Writes what is dirty, then stops flushing. */
  async close (): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.flush()
    if (this.dirty.size > 0) {
      this.log.warn('peer store: records not written at stop; the copy on disk is older', { pending: this.dirty.size })
    }
    await this.disk.close()
  }

  override put (key: Key, value: Uint8Array): Key {
    this.data.set(key.toString(), value)
    this.dirty.add(key.toString())
    return key
  }

  override get (key: Key): Uint8Array {
    const value = this.data.get(key.toString())
    if (value === undefined) throw new NotFoundError(`no ${key.toString()} in the peer datastore`)
    return value
  }

  override has (key: Key): boolean { return this.data.has(key.toString()) }

  override delete (key: Key): void {
    this.data.delete(key.toString())
    this.dirty.add(key.toString())
  }

  /** BaseDatastore's query filters, sorts and limits what this yields. */
  override * _all (): Generator<Pair> {
    for (const [name, value] of this.data) yield { key: new Key(name), value }
  }

  override * _allKeys (): Generator<Key> {
    for (const name of this.data.keys()) yield new Key(name)
  }

  /** Keys written or deleted in memory that the disk copy does not have yet. */
  get pending (): number { return this.dirty.size }

  /** Brings the disk copy up to date with memory; one flush at a time, a second caller waits for it. */
  async flush (): Promise<void> {
    while (this.flushing !== undefined) await this.flushing
    if (this.dirty.size === 0) return
    this.flushing = this.writeDirty().finally(() => { this.flushing = undefined })
    await this.flushing
  }

  private async writeDirty (): Promise<void> {
    const keys = [...this.dirty]
    this.dirty.clear()
    let failed = 0
    let firstError: unknown
    for (const name of keys) {
      const key = new Key(name)
      const value = this.data.get(name)
      try {
        if (value === undefined) await this.disk.delete(key)
        else await this.disk.put(key, value)
      } catch (err) {
        // Written again at the next flush unless a newer write or delete already marked it.
        this.dirty.add(name)
        failed++
        firstError ??= err
      }
    }
    if (failed > 0) {
      this.log.warn('peer store: could not write to disk; kept in memory, retrying', {
        failed, of: keys.length
      }, firstError)
    }
  }
}
