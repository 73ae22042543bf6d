import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { acquireDataDirLock, LOCK_FILE } from '../../src/network/data-dir-lock.js'
import { IDENTITY_FILE, loadOrCreateIdentity } from '../../src/network/identity.js'
import { createSwarmNode } from '../../src/network/swarm-node.js'

/** The pid of a process that has exited: what a node killed with SIGKILL leaves in its LOCK. */
async function deadPid (): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('exit', resolve))
  return child.pid as number
}

describe('node identity and data-directory lock', () => {
  let dataDir: string
  beforeEach(async () => { dataDir = await mkdtemp(join(tmpdir(), 'hddm-identity-')) })
  afterEach(async () => { await rm(dataDir, { recursive: true, force: true, maxRetries: 5 }) })

  it('keeps the same peer id across a restart on the same data directory', async () => {
    const first = createSwarmNode({ dataDir, scope: 'loopback' })
    await first.start()
    const id = first.peerId.toString()
    await first.stop()

    const second = createSwarmNode({ dataDir, scope: 'loopback' })
    await second.start()
    expect(second.peerId.toString()).toBe(id)
    expect(second.peerId.type).toBe('Ed25519')
    await second.stop()

    const other = createSwarmNode({ dataDir: join(dataDir, 'elsewhere'), scope: 'loopback' })
    await other.start()
    expect(other.peerId.toString()).not.toBe(id)
    await other.stop()
  })

  it('writes the key with mode 0600 and tightens a key someone loosened', async () => {
    await loadOrCreateIdentity(dataDir)
    const path = join(dataDir, IDENTITY_FILE)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    await chmod(path, 0o644)
    await loadOrCreateIdentity(dataDir)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  })

  it('refuses a corrupt identity file with InvalidIdentityError instead of replacing it', async () => {
    await writeFile(join(dataDir, IDENTITY_FILE), 'not a key')
    await expect(loadOrCreateIdentity(dataDir)).rejects.toHaveProperty('name', 'InvalidIdentityError')
    expect(await readFile(join(dataDir, IDENTITY_FILE), 'utf8')).toBe('not a key')
  })

  it('refuses a second node on a data directory in use, and releases the lock on stop', async () => {
    const first = createSwarmNode({ dataDir, scope: 'loopback' })
    await first.start()
    expect((await readFile(join(dataDir, LOCK_FILE), 'utf8')).trim()).toBe(String(process.pid))

    const second = createSwarmNode({ dataDir, scope: 'loopback' })
    await expect(second.start()).rejects.toHaveProperty('name', 'DataDirInUseError')
    expect(second.status).toBe('stopped')

    await first.stop()
    await expect(stat(join(dataDir, LOCK_FILE))).rejects.toHaveProperty('code', 'ENOENT')
    await second.start()
    await second.stop()
  })

  it('takes over a stale lock left by a process that no longer exists', async () => {
    await writeFile(join(dataDir, LOCK_FILE), `${await deadPid()}\n`)
    const lock = await acquireDataDirLock(dataDir)
    expect((await readFile(lock.path, 'utf8')).trim()).toBe(String(process.pid))
    await lock.release()
  })

  // Bad bootstrap addresses are connectSwarm's to refuse (test/node/connect.test.ts).
  it('refuses a bad listen address with InvalidMultiaddrError', async () => {
    const badListen = createSwarmNode({ dataDir, listen: ['not-a-multiaddr'] })
    await expect(badListen.start()).rejects.toHaveProperty('name', 'InvalidMultiaddrError')
    // A failed start must not leave the directory locked.
    const ok = createSwarmNode({ dataDir, scope: 'loopback' })
    await ok.start()
    await ok.stop()
  })

  it('only dials loopback addresses when scoped to loopback', async () => {
    const node = createSwarmNode({ scope: 'loopback' })
    await node.start()
    const { multiaddr } = await import('@multiformats/multiaddr')
    const remote = multiaddr('/ip4/10.255.255.1/tcp/4001/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp')
    await expect(node.libp2p.dial(remote, { signal: AbortSignal.timeout(5_000) }))
      .rejects.toHaveProperty('name', 'DialDeniedError')
    expect(node.libp2p.getConnections()).toEqual([])
    await node.stop()
  })
})
