/**
 * What a peer-store merge costs over datastore-fs (what hddm used) and over PeerDatastore (what
 * it uses): libp2p merges the protocol into the remote peer's record on every stream it opens,
 * and the peer store rewrites the whole record each time (src/network/peer-datastore.ts says
 * why). Both stores sit under a real libp2p node's peer store, in the same run, on the same
 * merges: `--peers` records, `--rounds` merges each.
 *
 *   npm run bench test/bench/peer-store.ts -- [--peers 30] [--rounds 20]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FsDatastore } from 'datastore-fs'
import { createLibp2p } from 'libp2p'
import { PeerDatastore } from '../../src/network/peer-datastore.js'
import type { PeerId } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

const { values } = parseArgs({
  options: { peers: { type: 'string', default: '30' }, rounds: { type: 'string', default: '20' } }
})
const PEERS = Number(values.peers)
const ROUNDS = Number(values.rounds)
const PROTOCOLS = ['/ipfs/ping/1.0.0', '/ipfs/id/1.0.0', '/meshsub/1.2.0', '/ipfs/kad/1.0.0']

/** Milliseconds per merge, and the process CPU per merge, over `datastore`. */
async function mergeCost (datastore: Datastore, remotes: PeerId[]): Promise<{ wall: number, cpu: number }> {
  const node = await createLibp2p({ datastore, start: false })
  const merges = PEERS * ROUNDS
  const cpu = process.cpuUsage()
  const started = performance.now()
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(remotes.map(async (peer) => {
      await node.peerStore.merge(peer, { protocols: [PROTOCOLS[round % PROTOCOLS.length]] })
    }))
  }
  const wall = (performance.now() - started) / merges
  const used = process.cpuUsage(cpu)
  await node.stop()
  return { wall, cpu: (used.user + used.system) / 1000 / merges }
}

const remotes = await Promise.all(Array.from({ length: PEERS }, async () => {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}))
const dir = await mkdtemp(join(tmpdir(), 'hddm-peer-store-bench-'))
try {
  const fs = new FsDatastore(join(dir, 'fs'))
  await fs.open()
  const fsCost = await mergeCost(fs, remotes)
  await fs.close()
  const cached = new PeerDatastore({ path: join(dir, 'peer-datastore') })
  await cached.open()
  const cachedCost = await mergeCost(cached, remotes)
  const flushStarted = performance.now()
  await cached.close()
  const flushMs = performance.now() - flushStarted

  console.log(`node ${process.version}; ${PEERS} peers x ${ROUNDS} merges of one protocol each`)
  const row = (name: string, c: { wall: number, cpu: number }): string =>
    `${name}: ${c.wall.toFixed(3)} ms per merge, ${c.cpu.toFixed(3)} ms of CPU per merge`
  console.log(row('datastore-fs  ', fsCost))
  const flush = `; its closing flush wrote ${PEERS} records in ${flushMs.toFixed(0)} ms`
  console.log(row('PeerDatastore ', cachedCost) + flush)
  console.log(`ratio (datastore-fs / PeerDatastore): wall ${(fsCost.wall / cachedCost.wall).toFixed(1)}x, ` +
    `CPU ${(fsCost.cpu / cachedCost.cpu).toFixed(1)}x`)
} finally {
  await rm(dir, { recursive: true, force: true })
}
