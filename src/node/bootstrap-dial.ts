import { KEEP_ALIVE } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { InvalidMultiaddrError } from '../network/errors.js'
import type { Logger } from '../logger.js'
import type { Libp2p } from '@libp2p/interface'

/** Parses bootstrap addresses up front, so a typo is one clear error before anything starts. */
export function parseBootstrap (addrs: string[]): Array<{ ma: Multiaddr, peer: string }> {
  return addrs.map((text) => {
    let ma: Multiaddr
    try {
      ma = multiaddr(text)
    } catch (err) {
      throw new InvalidMultiaddrError(`invalid bootstrap multiaddr ${JSON.stringify(text)}: ${(err as Error).message}`)
    }
    const peer = ma.getComponents().find((c) => c.name === 'p2p')?.value
    if (peer === undefined) throw new InvalidMultiaddrError(`bootstrap address ${text} has no /p2p/<peerId> part`)
    return { ma, peer }
  })
}

/**
 * Dials the bootstrap peers once every service is registered. Dialled any earlier (libp2p's
 * bootstrap module dials at start), the first connection's identify exchange predates the
 * bitswap protocol, and the bootstrap peer never asks this node for blocks. Tagging the peers
 * keep-alive makes libp2p redial them if the connection drops.
 */
export async function dialBootstrap (libp2p: Libp2p, addrs: string[], log: Logger): Promise<number> {
  let connected = 0
  await Promise.all(parseBootstrap(addrs).map(async ({ ma, peer }) => {
    try {
      await libp2p.peerStore.merge(peerIdFromString(peer), { multiaddrs: [ma], tags: { [KEEP_ALIVE]: { value: 1 } } })
      await libp2p.dial(ma, { signal: AbortSignal.timeout(10_000) })
      connected++
    } catch (err) {
      log.warn('bootstrap dial failed', { addr: ma.toString() }, err)
    }
  }))
  return connected
}
