/**
 * Which tasks are done (docs/PROTOCOL.md section 5.6, docs/SECURITY.md "Fake completion"). An
 * announcement is a claim, not a fact: a task is done here only once a final checkpoint of it
 * has been fetched (size-capped) and verified by this node, with the same checks assembly makes
 * (run, task, shape against the preset, finite values, recomputed held-out loss within the
 * run's bound) plus the budget: a final holds exactly the task's last step.
 *
 * A final announced on gossip is considered only if its announcer held the task at the time it
 * stamped the announcement; one learned from a peer's coverage map (checkpoint-sync.ts) cannot be
 * placed in time and is judged by its content alone. So is a gossiped final whose holder's claim
 * this node never heard (it joined after the claim's last beacon): checkpoint sync fetches it
 * again from its announcer's map, since gossip alone would leave it unjudged for good. Our own
 * finals are trusted. Each (task, CID) is verified once, one at a time, so a flood of
 * announcements costs a queue, not memory.
 */
import { TypedEventEmitter } from '@libp2p/interface'
import { silentLogger, type Logger } from '../logger.js'
import { verifyCheckpoints, type CheckpointVerdict } from '../ensemble/verify.js'
import type { RunShards } from '../ensemble/run-shards.js'
import { budgetOf } from '../protocol/run-manifest.js'
import type { CheckpointInfo } from '../network/claim-types.js'
import type { GossipMessageDetail } from '../network/gossip.js'
import type { CheckpointMessage, GossipMessage } from '../protocol/messages.js'
import type { Storage } from '../storage/helia.js'
import type { RunState } from './run-state.js'

export interface FinalVerdict {
  task: string
  cid: string
  peer: string
  accepted: boolean
  /** Why it was refused: a verification reason, `not-holder`, or `wrong-step`. */
  reason?: string
  message?: string
  heldOutLoss?: number
}

export interface FinalVerifierEvents {
  verdict: CustomEvent<FinalVerdict>
}

export interface FinalVerifierInit {
  /** Deadline of each fetch. @default 60_000 */
  timeoutMs?: number
  logger?: Logger
}

export interface FinalVerifierComponents {
  state: Pick<RunState, 'runId' | 'manifest' | 'table' | 'addEventListener' | 'removeEventListener'>
  storage: Pick<Storage, 'getBytes'>
  /** The run's shards, shared with lease evidence. */
  shards: RunShards
  /** This node's peer id: its own finals need no checking. */
  self: string
}

/** Refusals remembered at most (each a few hundred bytes); the oldest are forgotten first. */
const MAX_REFUSALS = 4096

type Queued = CheckpointInfo & { task: string, attempts: number }

/** A verification that failed for this node's own reasons is retried this often, this much later. */
const MAX_ATTEMPTS = 5
const RETRY_MS = 5_000

export class FinalVerifier extends TypedEventEmitter<FinalVerifierEvents> {
  private readonly log: Logger
  private readonly timeoutMs: number
  /** Accepted finals by (task, CID): only verification adds to it, so it needs no bound. */
  private readonly accepted = new Map<string, FinalVerdict>()
  private readonly refused = new Map<string, FinalVerdict>()
  private readonly queued = new Map<string, Queued>()
  /** Verifications waiting out RETRY_MS after their own failure. */
  private readonly retrying = new Set<string>()
  private readonly controller = new AbortController()
  private draining?: Promise<void>
  private current?: Queued

  constructor (init: FinalVerifierInit, private readonly c: FinalVerifierComponents) {
    super()
    this.log = (init.logger ?? silentLogger).child('final-verifier')
    this.timeoutMs = init.timeoutMs ?? 60_000
    this.onMessage = this.onMessage.bind(this)
  }

  start (): void {
    this.c.state.addEventListener('message', this.onMessage)
  }

  async stop (): Promise<void> {
    this.c.state.removeEventListener('message', this.onMessage)
    this.controller.abort()
    this.queued.clear()
    await this.draining
  }

  /** Whether some final checkpoint of `task` verified here. */
  isDone (task: string): boolean {
    return this.acceptedFinals(task).length > 0
  }

  /** A final of `task` waits for its verdict: the task may be done, so nobody should start it now. */
  isPending (task: string): boolean {
    if (this.current?.task === task) return true
    for (const q of this.queued.values()) if (q.task === task) return true
    for (const k of this.retrying) if (k.startsWith(`${task}\u0000`)) return true
    return false
  }

  /**
   * Whether this final has a verdict by content here or is on its way to one. A final ignored
   * because its announcer did not hold the task (as far as this node knows) has neither.
   */
  handles (task: string, cid: string): boolean {
    const k = key(task, cid)
    const verifying = this.current !== undefined && key(this.current.task, this.current.cid) === k
    return verifying || this.accepted.has(k) || this.refused.has(k) || this.queued.has(k) || this.retrying.has(k)
  }

  /** The verified finals of `task`, lowest recomputed held-out loss first. */
  acceptedFinals (task: string): FinalVerdict[] {
    const finals = [...this.accepted.values()].filter((v) => v.task === task)
    return finals.sort((a, b) => (a.heldOutLoss ?? 0) - (b.heldOutLoss ?? 0))
  }

  verdictOf (task: string, cid: string): FinalVerdict | undefined {
    const k = key(task, cid)
    return this.accepted.get(k) ?? this.refused.get(k)
  }

  /** Resolves once every queued verification has finished. */
  async idle (): Promise<void> {
    while (this.draining !== undefined) await this.draining
  }

  private onMessage (evt: CustomEvent<GossipMessageDetail<GossipMessage> & { adopted?: boolean }>): void {
    const msg = evt.detail.message
    if (msg.type !== 'checkpoint' || !msg.final) return
    const k = key(msg.task, msg.cid)
    if (this.accepted.has(k)) return
    // Ours: we trained it. (The same bytes may have been refused before from a peer that did
    // not hold the task: training is deterministic, so a take-over can end in the same file.)
    if (evt.detail.local || msg.peer === this.c.self) {
      this.refused.delete(k)
      this.record({ task: msg.task, cid: msg.cid, peer: msg.peer, accepted: true, heldOutLoss: msg.heldOutLoss })
      return
    }
    if (this.handles(msg.task, msg.cid)) return
    const adopted = evt.detail.adopted === true
    if (!adopted && !this.c.state.table.holders(msg.task, msg.ts).includes(msg.peer)) {
      // Said about this announcement, not about the file: not remembered against its CID.
      const message = `${msg.peer} did not hold ${msg.task} when it announced this final`
      this.safeDispatchEvent('verdict', {
        detail: { task: msg.task, cid: msg.cid, peer: msg.peer, accepted: false, reason: 'not-holder', message }
      })
      const about = { task: msg.task, cid: msg.cid, peer: msg.peer }
      this.log.warn('final checkpoint ignored: its announcer did not hold the task', about)
      return
    }
    this.enqueue({ ...infoOf(msg), task: msg.task, attempts: 0 })
  }

  private enqueue (item: Queued): void {
    this.queued.set(key(item.task, item.cid), item)
    this.draining ??= this.drain().finally(() => { this.draining = undefined })
  }

  private async drain (): Promise<void> {
    while (this.queued.size > 0 && !this.controller.signal.aborted) {
      const [k, next] = this.queued.entries().next().value as [string, Queued]
      this.queued.delete(k)
      this.current = next
      try {
        this.record(await this.verify(next))
      } catch (err) {
        // Our own trouble (a full disk, a held-out shard nobody serves right now): no verdict;
        // try again a little later, a few times, while the task stays pending.
        if (this.controller.signal.aborted) return
        const attempt = { task: next.task, cid: next.cid, attempt: next.attempts + 1 }
        this.log.warn('could not verify a final checkpoint', attempt, err)
        if (next.attempts + 1 < MAX_ATTEMPTS) {
          this.retrying.add(k)
          setTimeout(() => {
            this.retrying.delete(k)
            if (!this.controller.signal.aborted) this.enqueue({ ...next, attempts: next.attempts + 1 })
          }, RETRY_MS).unref()
        }
      } finally {
        this.current = undefined
      }
    }
  }

  private async verify (info: Queued): Promise<FinalVerdict> {
    const { runId, manifest } = this.c.state
    const task = manifest.tasks.find((t) => t.id === info.task)
    const base = { task: info.task, cid: info.cid, peer: info.peer }
    if (task === undefined) {
      return { ...base, accepted: false, reason: 'wrong-task', message: `the run has no task ${info.task}` }
    }
    const budget = budgetOf(manifest, task).steps
    if (info.step !== budget) {
      const message = `a final must hold step ${budget}, it claims ${info.step}`
      return { ...base, accepted: false, reason: 'wrong-step', message }
    }
    const init = { runId, manifest, storage: this.c.storage, timeoutMs: this.timeoutMs, shards: this.c.shards }
    const candidates = [{ task: info.task, cid: info.cid, peers: [info.peer], announcedLoss: info.heldOutLoss }]
    const verification = await verifyCheckpoints(init, candidates, { signal: this.controller.signal })
    const v: CheckpointVerdict = verification.verdicts[0]
    if (!v.accepted) return { ...base, accepted: false, reason: v.reason, message: v.message }
    if (v.step !== budget) {
      const message = `it holds step ${String(v.step)}, not the task's last, ${budget}`
      return { ...base, accepted: false, reason: 'wrong-step', message }
    }
    return { ...base, accepted: true, heldOutLoss: v.heldOutLoss }
  }

  private record (verdict: FinalVerdict): void {
    const k = key(verdict.task, verdict.cid)
    if (verdict.accepted) {
      this.accepted.set(k, verdict)
    } else {
      this.refused.set(k, verdict)
      if (this.refused.size > MAX_REFUSALS) this.refused.delete(this.refused.keys().next().value as string)
    }
    if (verdict.accepted) this.log.info('final checkpoint verified', { ...verdict })
    else this.log.warn('final checkpoint refused', { ...verdict })
    this.safeDispatchEvent('verdict', { detail: verdict })
  }
}

function key (task: string, cid: string): string {
  return `${task}\u0000${cid}`
}

function infoOf (msg: CheckpointMessage): CheckpointInfo {
  return { peer: msg.peer, cid: msg.cid, step: msg.step, final: msg.final, heldOutLoss: msg.heldOutLoss, ts: msg.ts }
}
