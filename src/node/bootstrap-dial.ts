import { KEEP_ALIVE } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { throwIfAborted } from '../hddm-error.js'
import { InvalidMultiaddrError } from '../network/errors.js'
import type { Logger } from '../logger.js'
import type { AbortOptions } from '../progress.js'
import type { Libp2p } from '@libp2p/interface'

/** How long one bootstrap dial may take: an address that blackholes packets must not stall start. */
export const BOOTSTRAP_DIAL_TIMEOUT_MS = 10_000

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
 * keep-alive makes libp2p redial them if the connection drops. The node's own address is
 * skipped: bootstrap peers often share one list that names each of them.
 * @returns how many peers answered
 * @throws AbortError when the signal fires
 */
export async function dialBootstrap (
  libp2p: Libp2p, addrs: string[], log: Logger, options: AbortOptions = {}
): Promise<number> {
  const self = libp2p.peerId.toString()
  let connected = 0
  await Promise.all(parseBootstrap(addrs).filter(({ peer }) => peer !== self).map(async ({ ma, peer }) => {
    try {
      await libp2p.peerStore.merge(peerIdFromString(peer), { multiaddrs: [ma], tags: { [KEEP_ALIVE]: { value: 1 } } })
      const timeout = AbortSignal.timeout(BOOTSTRAP_DIAL_TIMEOUT_MS)
      const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
      await libp2p.dial(ma, { signal })
      connected++
    } catch (err) {
      if (options.signal?.aborted !== true) log.warn('bootstrap dial failed', { addr: ma.toString() }, err)
    }
  }))
  throwIfAborted(options.signal)
  return connected
}
