import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { BootstrapListSchema, DEFAULT_BOOTSTRAP_LIST, loadBootstrapList } from '../../src/network/bootstrap-list.js'
import { LOCK_FILE } from '../../src/network/data-dir-lock.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { writeFile } from 'node:fs/promises'

describe('hddm-node bootstrap', () => {
  let dataDir: string
  beforeAll(async () => { dataDir = await mkdtemp(join(tmpdir(), 'hddm-bootstrap-')) })
  afterAll(async () => { await rm(dataDir, { recursive: true, force: true, maxRetries: 5 }) })

  it('prints its multiaddrs, lets a peer join through them, and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [
      '--import', 'tsx', 'src/cli/bin.ts', 'bootstrap',
      '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', dataDir, '--json',
      '--bootstrap-list', DEFAULT_BOOTSTRAP_LIST
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    let peer: TestNode | undefined
    try {
      const [line] = await once(createInterface({ input: child.stdout }), 'line') as [string]
      const printed = JSON.parse(line) as { peerId: string, multiaddrs: string[] }
      expect(printed.multiaddrs.length).toBeGreaterThan(0)
      const ownAddr = new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${printed.peerId}$`)
      for (const addr of printed.multiaddrs) expect(addr).toMatch(ownAddr)
      expect((await stat(join(dataDir, LOCK_FILE))).isFile()).toBe(true)

      peer = await createTestNode({ bootstrap: printed.multiaddrs })
      await vi.waitFor(() => {
        expect(peer?.swarm.libp2p.getConnections().map(c => c.remotePeer.toString())).toContain(printed.peerId)
      }, { timeout: 15_000, interval: 50 })
    } finally {
      await peer?.stop()
      child.kill('SIGTERM')
    }
    const [code] = await once(child, 'exit') as [number | null]
    expect(code).toBe(0)
    await expect(stat(join(dataDir, LOCK_FILE))).rejects.toHaveProperty('code', 'ENOENT')
  })

  it('ships a valid default bootstrap list with no public peers', async () => {
    expect(await loadBootstrapList()).toEqual([])
  })

  it('refuses a bootstrap list entry without a peer id', async () => {
    const file = join(dataDir, 'bad-peers.json')
    await writeFile(file, JSON.stringify({ peers: ['/ip4/127.0.0.1/tcp/4710'] }))
    await expect(loadBootstrapList(file)).rejects.toHaveProperty('name', 'InvalidArgumentError')
    const withPeerId = '/ip4/127.0.0.1/tcp/4710/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp'
    expect(BootstrapListSchema.safeParse({ peers: [withPeerId] }).success).toBe(true)
  })
})
