/**
 * Keeps a copy of every task's latest announced checkpoint. A checkpoint announced by CID is
 * only as durable as the peers holding its blocks: when its trainer dies (the case leases
 * exist for), the successor must fetch it from someone else. Each node therefore fetches the
 * newest checkpoint announced for each task and serves it over bitswap. Tasks are mirrored
 * independently (one fetch in flight per task), so a fetch stuck on a dead announcer delays
 * only its own task; superseded announcements are skipped, so a slow mirror never falls behind
 * by more than one.
 */
import { silentLogger, type Logger } from '../logger.js'
import { fetchAnnouncedCheckpoint } from './announced-checkpoint.js'
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
  state: Pick<RunState, 'addEventListener' | 'removeEventListener' | 'manifest'>
  storage: Pick<Storage, 'getBytes'>
}

interface Wanted { cid: string, peer: string, step: number }

/** Announced checkpoints fetched (and so served on) since start, and fetches given up on. */
export interface MirrorCounters { fetched: number, failed: number }

export class CheckpointMirror {
  /** The newest announcement per task not yet being fetched. */
  private readonly wanted = new Map<string, Wanted>()
  /** The fetch loop of each task that has one running. */
  private readonly active = new Map<string, Promise<void>>()
  private readonly controller = new AbortController()
  private readonly log: Logger
  private readonly timeoutMs: number
  private readonly counts: MirrorCounters = { fetched: 0, failed: 0 }

  constructor (init: CheckpointMirrorInit, private readonly c: CheckpointMirrorComponents) {
    this.log = (init.logger ?? silentLogger).child('checkpoint-mirror')
    this.timeoutMs = init.timeoutMs ?? 120_000
    this.onMessage = this.onMessage.bind(this)
  }

  start (): void { this.c.state.addEventListener('message', this.onMessage) }

  async stop (): Promise<void> {
    this.c.state.removeEventListener('message', this.onMessage)
    this.controller.abort()
    await this.idle()
  }

  counters (): MirrorCounters { return { ...this.counts } }

  /** Resolves when every wanted checkpoint has been fetched or given up on (tests). */
  async idle (): Promise<void> {
    while (this.active.size > 0) await Promise.all(this.active.values())
  }

  private onMessage (evt: CustomEvent<GossipMessageDetail<GossipMessage>>): void {
    const { message, local } = evt.detail
    if (local || message.type !== 'checkpoint') return
    const { task } = message
    const current = this.wanted.get(task)
    if (current !== undefined && current.step >= message.step) return
    this.wanted.set(task, { cid: message.cid, peer: message.peer, step: message.step })
    if (!this.active.has(task)) this.active.set(task, this.drain(task).finally(() => { this.active.delete(task) }))
  }

  private async drain (task: string): Promise<void> {
    const { signal } = this.controller
    for (let want = this.wanted.get(task); want !== undefined && !signal.aborted; want = this.wanted.get(task)) {
      this.wanted.delete(task)
      try {
        const options = { timeoutMs: this.timeoutMs, signal }
        await fetchAnnouncedCheckpoint(this.c.storage, this.c.state.manifest, want, options)
        this.counts.fetched++
        this.log.debug('mirrored checkpoint', { task, cid: want.cid, step: want.step })
      } catch (err) {
        // The announcer may be gone already; the next announcement (or a replica) will do.
        if (!signal.aborted) {
          this.counts.failed++
          const error = err instanceof Error ? err.message : String(err)
          this.log.debug('could not mirror checkpoint', { task, cid: want.cid, error })
        }
      }
    }
  }
}
