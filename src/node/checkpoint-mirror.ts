/**
 * Keeps a copy of every task's latest announced checkpoint. A checkpoint announced by CID is
 * only as durable as the peers holding its blocks: when its trainer dies (the case leases
 * exist for), the successor must fetch it from someone else. Each node therefore fetches the
 * newest checkpoint announced for each task, one at a time, and serves it over bitswap.
 * Superseded announcements are skipped, so a slow mirror never falls behind by more than one.
 */
import { CID } from 'multiformats/cid'
import { silentLogger, type Logger } from '../logger.js'
import type { RunState } from './run-state.js'
import type { Storage } from '../storage/helia.js'
import type { GossipMessageDetail } from '../network/gossip.js'
import type { GossipMessage } from '../protocol/messages.js'

export interface CheckpointMirrorInit {
  /** Per fetch. @default 120_000 */
  timeoutMs?: number
  logger?: Logger
}

export interface CheckpointMirrorComponents {
  state: Pick<RunState, 'addEventListener' | 'removeEventListener'>
  storage: Pick<Storage, 'getBytes' | 'has'>
}

interface Wanted { cid: string, peer: string, step: number }

export class CheckpointMirror {
  private readonly wanted = new Map<string, Wanted>()
  private readonly controller = new AbortController()
  private draining?: Promise<void>
  private readonly log: Logger
  private readonly timeoutMs: number

  constructor (init: CheckpointMirrorInit, private readonly c: CheckpointMirrorComponents) {
    this.log = (init.logger ?? silentLogger).child('checkpoint-mirror')
    this.timeoutMs = init.timeoutMs ?? 120_000
    this.onMessage = this.onMessage.bind(this)
  }

  start (): void { this.c.state.addEventListener('message', this.onMessage) }

  async stop (): Promise<void> {
    this.c.state.removeEventListener('message', this.onMessage)
    this.controller.abort()
    await this.draining
  }

  /** Resolves when every wanted checkpoint has been fetched or given up on (tests). */
  async idle (): Promise<void> { await this.draining }

  private onMessage (evt: CustomEvent<GossipMessageDetail<GossipMessage>>): void {
    const { message, local } = evt.detail
    if (local || message.type !== 'checkpoint') return
    const current = this.wanted.get(message.task)
    if (current !== undefined && current.step >= message.step) return
    this.wanted.set(message.task, { cid: message.cid, peer: message.peer, step: message.step })
    this.draining ??= this.drain().finally(() => { this.draining = undefined })
  }

  private async drain (): Promise<void> {
    while (this.wanted.size > 0 && !this.controller.signal.aborted) {
      const [task, want] = this.wanted.entries().next().value as [string, Wanted]
      this.wanted.delete(task)
      try {
        const cid = CID.parse(want.cid)
        if (!await this.c.storage.has(cid)) {
          await this.c.storage.getBytes(cid, { providers: [want.peer], timeoutMs: this.timeoutMs, signal: this.controller.signal })
          this.log.debug('mirrored checkpoint', { task, cid: want.cid, step: want.step })
        }
      } catch (err) {
        // The announcer may be gone already; the next announcement (or a replica) will do.
        if (!this.controller.signal.aborted) this.log.debug('could not mirror checkpoint', { task, cid: want.cid, error: err instanceof Error ? err.message : String(err) })
      }
    }
  }
}
