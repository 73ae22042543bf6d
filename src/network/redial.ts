import { multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../logger.js'
import type { Libp2p } from '@libp2p/interface'

export interface BootstrapRedialInit {
  addresses: string[]
  /** First retry delay; doubles after each fruitless round. @default 2000 */
  minDelayMs?: number
  /** @default 60000 */
  maxDelayMs?: number
}

/**
 * connectSwarm dials its bootstrap list once. A long-lived node whose first dials fail (the
 * bootstrap peer was down, or refused a burst of inbound connections) would then stay alone for
 * good, so while the node has no connection at all it redials the list, backing off exponentially.
 */
export class BootstrapRedial {
  private readonly libp2p: Libp2p
  private readonly init: Required<BootstrapRedialInit>
  private readonly log: Logger
  private timer?: ReturnType<typeof setTimeout>
  private delay: number

  constructor (libp2p: Libp2p, init: BootstrapRedialInit, log: Logger) {
    this.libp2p = libp2p
    this.init = { minDelayMs: 2000, maxDelayMs: 60_000, ...init }
    this.delay = this.init.minDelayMs
    this.log = log
  }

  start (): void {
    if (this.init.addresses.length > 0) this.schedule()
  }

  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule (): void {
    this.timer = setTimeout(() => { void this.tick() }, this.delay)
    this.timer.unref()
  }

  private async tick (): Promise<void> {
    if (this.libp2p.getConnections().length > 0) {
      this.delay = this.init.minDelayMs
    } else {
      this.log.info('no connections; redialling bootstrap peers', { delayMs: this.delay })
      const dials = this.init.addresses.map(async (a) => {
        await this.libp2p.dial(multiaddr(a), { signal: AbortSignal.timeout(10_000) })
      })
      const ok = (await Promise.allSettled(dials)).some((r) => r.status === 'fulfilled')
      this.delay = ok ? this.init.minDelayMs : Math.min(this.delay * 2, this.init.maxDelayMs)
    }
    if (this.timer !== undefined) this.schedule()
  }
}
