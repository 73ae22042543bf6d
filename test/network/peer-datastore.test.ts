/**
 * The peer store's datastore on a real directory: reads and writes are served from memory, the
 * disk copy catches up at each flush (one write per key however often it changed) and at
 * close, a reopened store starts from it, and a write the disk refuses stays pending.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FsDatastore } from 'datastore-fs'
import { Key } from 'interface-datastore'
import { afterEach, describe, expect, it } from 'vitest'
import { PeerDatastore } from '../../src/network/peer-datastore.js'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (value: Uint8Array): string => new TextDecoder().decode(value)

/** What a plain datastore-fs over the same directory sees: the disk copy. */
async function onDisk (path: string): Promise<Record<string, string>> {
  const disk = new FsDatastore(path)
  await disk.open()
  const found: Record<string, string> = {}
  for await (const { key, value } of disk.query({})) found[key.toString()] = text(value)
  await disk.close()
  return found
}

describe('PeerDatastore (a directory on disk)', () => {
  let dir: string
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })
  const open = async (): Promise<PeerDatastore> => {
    const store = new PeerDatastore({ path: dir, flushIntervalMs: 3_600_000 })
    await store.open()
    return store
  }

  it('serves writes from memory and writes each changed key to disk once per flush', async () => {
    dir = await mkdtemp(join(tmpdir(), 'hddm-peer-datastore-'))
    const store = await open()
    for (let i = 0; i < 100; i++) store.put(new Key('/peers/a'), bytes(`a${i}`))
    store.put(new Key('/peers/b'), bytes('b'))
    expect(text(store.get(new Key('/peers/a')))).toBe('a99')
    expect(store.pending).toBe(2)
    expect(await onDisk(dir)).toEqual({})

    await store.flush()
    expect(store.pending).toBe(0)
    expect(await onDisk(dir)).toEqual({ '/peers/a': 'a99', '/peers/b': 'b' })

    store.delete(new Key('/peers/b'))
    expect(store.has(new Key('/peers/b'))).toBe(false)
    await store.close()
    expect(await onDisk(dir)).toEqual({ '/peers/a': 'a99' })
  })

  it('starts from the disk copy, and answers prefix queries as the peer store asks them', async () => {
    dir = await mkdtemp(join(tmpdir(), 'hddm-peer-datastore-'))
    const first = await open()
    first.put(new Key('/peers/x'), bytes('x'))
    first.put(new Key('/other/y'), bytes('y'))
    await first.close()

    const second = await open()
    const peers = []
    for await (const { key, value } of second.query({ prefix: '/peers' })) peers.push([key.toString(), text(value)])
    expect(peers).toEqual([['/peers/x', 'x']])
    expect(() => second.get(new Key('/peers/missing'))).toThrow(expect.objectContaining({ name: 'NotFoundError' }))
    await second.close()
  })

  it('keeps a write the disk refuses, and writes it once the disk takes it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'hddm-peer-datastore-'))
    const store = await open()
    // A file where the key's directory must go: the disk write fails (ENOTDIR), as on a full disk.
    await writeFile(join(dir, 'peers'), 'in the way')
    store.put(new Key('/peers/a'), bytes('a'))
    await store.flush()
    expect(store.pending).toBe(1)
    expect(text(store.get(new Key('/peers/a')))).toBe('a')

    await rm(join(dir, 'peers'))
    await store.flush()
    expect(store.pending).toBe(0)
    expect(await onDisk(dir)).toEqual({ '/peers/a': 'a' })
    await store.close()
  })
})
