/**
 * Lease evidence (docs/PROTOCOL.md 5.8, docs/SECURITY.md "Lease squatting and Sybil
 * identities"): a lease is kept by training, not by renewing it. Every checkpoint a holder
 * announces for the task it holds is fetched here (size-capped, as the mirror fetches it) and
 * checked (evidence-check.ts); what checks out goes into the claim table as evidence, and the
 * table stops counting a holder that shows none in time and ignores its claims on the task for
 * the manifest's penalty. Peers other than this node are judged; this node's own claims always
 * count for itself.
 *
 * One check runs at a time. Per (task, peer) only the most advanced announcement waiting is kept,
 * and only announcements by a holder of the task are checked, so a flood of announcements costs
 * a bounded queue. While a check of an announcement stamped before its holder's deadline runs,
 * the holder keeps counting: its verdict, not this node's speed, decides.
 *
 * Whether the announcer held the task at the announcement's `ts` is this node's answer at the
 * time, and it can change: the holder's claim may arrive after its checkpoint (a node that just
 * joined), or a pending check of a rival holder may end in a penalty dated back. So an
 * announcement that does not place is kept (the most advanced per task and peer, a bounded
 * number) and placed again at each sweep until the gossip window closes on it.
 */
import { TypedEventEmitter } from '@libp2p/interface'
import { DiskFullError } from '../hddm-error.js'
import { silentLogger, type Logger } from '../logger.js'
import { MAX_MESSAGE_AGE_MS } from '../protocol/limits.js'
import type { RunShards } from '../ensemble/run-shards.js'
import { fetchAnnouncedCheckpoint } from './announced-checkpoint.js'
import { EvidenceRefusedError, type EvidenceRefusal } from './errors.js'
import { checkEvidence, checkEvidenceStep, type EvidenceScore } from './evidence-check.js'
import type { LeasePenalty } from '../network/claim-types.js'
import type { EvidenceOutcome } from '../network/evidence-log.js'
import type { GossipMessageDetail } from '../network/gossip.js'
import type { GossipMessage } from '../protocol/messages.js'
import type { Storage } from '../storage/helia.js'
import type { RunState } from './run-state.js'

export interface EvidenceVerdict {
  task: string
  peer: string
  cid: string
  step: number
  /** `ts` of the announcement. */
  ts: number
  accepted: boolean
  /** Accepted: `counted` if it was stamped before the holder's deadline, else `late`. */
  outcome?: EvidenceOutcome
  reason?: EvidenceRefusal
  message?: string
  score?: EvidenceScore
}

export interface LeaseEvidenceEvents {
  verdict: CustomEvent<EvidenceVerdict>
  /** A holder missed its evidence deadline: its claims on the task do not count here until `until`. */
  revoked: CustomEvent<LeasePenalty>
}

export interface LeaseEvidenceInit {
  /** Deadline of each fetch (a checkpoint, a held-out shard). @default 60_000 */
  timeoutMs?: number
  /** How often deadlines are looked at (penalties are logged and announced then). @default 1000 */
  sweepMs?: number
  logger?: Logger
}

export interface LeaseEvidenceComponents {
  state: Pick<RunState, 'runId' | 'manifest' | 'table' | 'now' | 'addEventListener' | 'removeEventListener'>
  storage: Pick<Storage, 'getBytes'>
  /** The run's shards (held-out shards to score with), shared with the final verifier. */
  shards: RunShards
  /** This node's peer id: its own checkpoints need no checking. */
  self: string
}

interface Want { task: string, peer: string, cid: string, step: number, final: boolean, ts: number, attempts: number }

/** A check that failed for this node's own reasons (a held-out shard nobody serves now) is retried this often. */
const MAX_ATTEMPTS = 3
const RETRY_MS = 5_000
/**
 * Announcements that did not place, kept to be placed again; the oldest are forgotten first.
 * Each sweep asks the table about each one (an assignment of all live claims), so they are few.
 */
const MAX_UNPLACED = 256
/**
 * How long one is placed again: claims older than the gossip window are refused, and a rival's
 * pending check ends within its fetch deadline, so after twice the window no answer changes.
 */
const UNPLACED_MS = 2 * MAX_MESSAGE_AGE_MS

export class LeaseEvidence extends TypedEventEmitter<LeaseEvidenceEvents> {
  private readonly log: Logger
  private readonly timeoutMs: number
  private readonly sweepMs: number
  /** The most advanced announcement waiting per `task \0 peer`, oldest first. */
  private readonly wanted = new Map<string, Want>()
  /** Announcements whose announcer did not hold the task at their `ts`, per `task \0 peer`, oldest first. */
  private readonly unplaced = new Map<string, Want>()
  private readonly controller = new AbortController()
  private readonly retries = new Set<ReturnType<typeof setTimeout>>()
  private draining?: Promise<void>
  private sweeper?: ReturnType<typeof setInterval>

  constructor (init: LeaseEvidenceInit, private readonly c: LeaseEvidenceComponents) {
    super()
    this.log = (init.logger ?? silentLogger).child('lease-evidence')
    this.timeoutMs = init.timeoutMs ?? 60_000
    this.sweepMs = init.sweepMs ?? 1000
    this.onMessage = this.onMessage.bind(this)
  }

  start (): void {
    this.c.state.addEventListener('message', this.onMessage)
    this.sweeper = setInterval(() => { this.sweep() }, this.sweepMs)
    this.sweeper.unref()
  }

  async stop (): Promise<void> {
    this.c.state.removeEventListener('message', this.onMessage)
    clearInterval(this.sweeper)
    for (const timer of this.retries) clearTimeout(timer)
    this.retries.clear()
    this.controller.abort()
    this.wanted.clear()
    this.unplaced.clear()
    await this.draining
  }

  /** Resolves once every queued check has ended (tests). */
  async idle (): Promise<void> {
    while (this.draining !== undefined) await this.draining
  }

  /**
   * Ends the chains whose deadline passed, and says so for each penalty that imposed; places the
   * unplaced announcements again.
   */
  private sweep (): void {
    const { table } = this.c.state
    const now = this.c.state.now()
    table.tick(now)
    for (const penalty of table.takeImposedPenalties()) {
      this.log.warn('lease revoked: no verified checkpoint in time', { ...penalty, reason: 'no-evidence' })
      this.safeDispatchEvent('revoked', { detail: penalty })
    }
    for (const [k, want] of this.unplaced) {
      if (now - want.ts > UNPLACED_MS) this.unplaced.delete(k)
      else if (table.holders(want.task, want.ts).includes(want.peer)) this.consider(want)
    }
  }

  private onMessage (evt: CustomEvent<GossipMessageDetail<GossipMessage> & { adopted?: boolean }>): void {
    const msg = evt.detail.message
    // A checkpoint from a coverage map cannot be placed in time: it is never evidence.
    if (msg.type !== 'checkpoint' || evt.detail.local || evt.detail.adopted === true || msg.peer === this.c.self) return
    const { task, peer, cid, step, final, ts } = msg
    const want = { task, peer, cid, step, final, ts, attempts: 0 }
    if (this.c.state.table.holders(task, ts).includes(peer)) {
      this.consider(want)
      return
    }
    this.log.debug('checkpoint not checked as evidence yet: its announcer did not hold the task', { task, peer, cid })
    const k = `${task}\u0000${peer}`
    const parked = this.unplaced.get(k)
    if (parked !== undefined && parked.step >= step) return
    this.unplaced.delete(k)
    this.unplaced.set(k, want)
    if (this.unplaced.size > MAX_UNPLACED) this.unplaced.delete(this.unplaced.keys().next().value as string)
  }

  /** Queues the check of a placed announcement, unless one of its holder's as advanced waits. */
  private consider (want: Want): void {
    const k = `${want.task}\u0000${want.peer}`
    const parked = this.unplaced.get(k)
    if (parked !== undefined && parked.step <= want.step) this.unplaced.delete(k)
    const waiting = this.wanted.get(k)
    if (waiting !== undefined && waiting.step >= want.step) return
    if (waiting !== undefined) this.c.state.table.clearEvidencePending(waiting.task, waiting.peer, waiting.ts)
    this.wanted.delete(k)
    this.enqueue(want)
  }

  private enqueue (want: Want): void {
    this.wanted.set(`${want.task}\u0000${want.peer}`, want)
    this.c.state.table.markEvidencePending(want.task, want.peer, want.ts)
    this.draining ??= this.drain().finally(() => { this.draining = undefined })
  }

  private async drain (): Promise<void> {
    const { table } = this.c.state
    while (this.wanted.size > 0 && !this.controller.signal.aborted) {
      const [k, want] = this.wanted.entries().next().value as [string, Want]
      this.wanted.delete(k)
      try {
        this.record(await this.check(want))
      } catch (err) {
        if (this.controller.signal.aborted) return
        // Our own trouble says nothing about the holder: the check is retried, and the holder keeps
        // counting meanwhile (its announcement stays pending), a few times.
        const context = { task: want.task, peer: want.peer, cid: want.cid, attempt: want.attempts + 1 }
        this.log.warn('could not check a checkpoint as lease evidence', context, err)
        if (want.attempts + 1 < MAX_ATTEMPTS) {
          const timer = setTimeout(() => {
            this.retries.delete(timer)
            // A newer announcement of the holder waits already: this one's grace ends.
            if (this.controller.signal.aborted || this.wanted.has(k)) {
              table.clearEvidencePending(want.task, want.peer, want.ts)
            } else {
              this.enqueue({ ...want, attempts: want.attempts + 1 })
            }
          }, RETRY_MS)
          this.retries.add(timer)
          continue
        }
      }
      table.clearEvidencePending(want.task, want.peer, want.ts)
    }
  }

  /** @throws only for this node's own trouble; a bad checkpoint is a refused verdict */
  private async check (want: Want): Promise<EvidenceVerdict> {
    const { runId, manifest, table } = this.c.state
    const base = { task: want.task, peer: want.peer, cid: want.cid, step: want.step, ts: want.ts }
    const refused = (reason: EvidenceRefusal, message: string): EvidenceVerdict => {
      return { ...base, accepted: false, reason, message }
    }
    const task = manifest.tasks.find((t) => t.id === want.task)
    if (task === undefined) return refused('wrong-content', `the run has no task ${want.task}`)
    const history = table.evidenceOf(want.task, want.peer)
    try {
      checkEvidenceStep(manifest, task, want.step, history.latest?.step)
      let bytes: Uint8Array
      try {
        const options = { timeoutMs: this.timeoutMs, signal: this.controller.signal }
        bytes = await fetchAnnouncedCheckpoint(this.c.storage, manifest, want, options)
      } catch (err) {
        if (this.controller.signal.aborted || err instanceof DiskFullError) throw err
        // Nobody serves it, or it is not a file of a checkpoint's size: evidence must be public.
        return refused('unavailable', (err as Error).message)
      }
      const signal = this.controller.signal
      const heldOut = async (cluster: number): Promise<Uint8Array> => await this.c.shards.heldOut(cluster, { signal })
      const score = await checkEvidence({ runId, manifest }, task, want, bytes, history, heldOut)
      const outcome = table.recordEvidence(want.task, want.peer, { ts: want.ts, step: want.step, score: score.score })
      return { ...base, accepted: true, outcome: outcome === 'unknown-task' ? 'late' : outcome, score }
    } catch (err) {
      if (err instanceof EvidenceRefusedError) return refused(err.reason, err.message)
      throw err
    }
  }

  private record (verdict: EvidenceVerdict): void {
    if (verdict.accepted) this.log.info('lease evidence verified', { ...verdict, score: verdict.score?.score })
    else this.log.warn('checkpoint refused as lease evidence', { ...verdict })
    this.safeDispatchEvent('verdict', { detail: verdict })
  }
}
