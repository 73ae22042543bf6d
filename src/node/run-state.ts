/**
 * This node's view of one run: the joined gossip topic, the claim table fed by every accepted
 * message (ours included, as the gossip service echoes what we publish), and typed senders
 * that fill in the envelope so callers only say what they mean.
 */
import { TypedEventEmitter } from '@libp2p/interface'
import { silentLogger, type Logger } from '../logger.js'
import { type CheckpointInfo, type TaskCoverage, type ApplyOutcome, type ClaimRefusal } from '../network/claim-types.js'
import { ClaimTable } from '../network/claims.js'
import { encodeGossipMessage } from '../protocol/codec.js'
import { newNonce, type CheckpointMessage, type GossipMessage } from '../protocol/messages.js'
import { createGossipValidator } from '../protocol/validate.js'
import type { Gossip, GossipMessageDetail } from '../network/gossip.js'
import { leasePolicyOf, type ResolvedRunManifest } from '../protocol/run-manifest.js'

export interface RunStateEvents {
  /**
   * An accepted message changed (or may have changed) the claim table. `adopted` marks a
   * checkpoint learned from a peer's coverage map rather than from its announcer's gossip.
   */
  message: CustomEvent<GossipMessageDetail<GossipMessage> & { adopted?: boolean }>
}

export interface RunStateInit {
  runId: string
  manifest: ResolvedRunManifest
  /** This node's peer id string: the `peer` of everything it sends. */
  self: string
  clock: () => number
  /**
   * The address range (IPv4 /24, IPv6 /48) this node observes for a peer, for the manifest's
   * `maxTasksPerAddressRange` (network/address-range.ts). Without it no peer is capped.
   */
  rangeOf?: (peer: string) => string | undefined
  logger?: Logger
}

export interface RunStateComponents {
  gossip: Gossip
}

const MAX_LOGGED_REFUSALS = 4096

type Body<T extends GossipMessage['type']> =
  Omit<Extract<GossipMessage, { type: T }>, 'v' | 'run' | 'peer' | 'ts' | 'type'>

export class RunState extends TypedEventEmitter<RunStateEvents> {
  readonly runId: string
  readonly manifest: ResolvedRunManifest
  readonly table: ClaimTable
  private readonly self: string
  private readonly clock: () => number
  private readonly gossip: Gossip
  private readonly log: Logger
  /** The refusal last logged for each (task, peer) claim, so a peer re-claiming every beacon logs once. */
  private readonly refusals = new Map<string, ClaimRefusal>()
  private joined = false

  constructor (init: RunStateInit, components: RunStateComponents) {
    super()
    this.runId = init.runId
    this.manifest = init.manifest
    this.self = init.self
    this.clock = init.clock
    this.gossip = components.gossip
    this.log = (init.logger ?? silentLogger).child('run-state')
    // Lease evidence and the address-range cap (docs/PROTOCOL.md 5.8, 5.9); our own claims are exempt
    // from evidence, as this node knows whether it trains.
    const policy = leasePolicyOf(init.manifest)
    this.table = new ClaimTable({ ...init.manifest, ...policy, self: init.self, rangeOf: init.rangeOf })
    this.onMessage = this.onMessage.bind(this)
  }

  start (): void {
    if (this.joined) return
    this.gossip.addEventListener('message', this.onMessage)
    this.gossip.join(this.runId, createGossipValidator({ run: this.runId, manifest: this.manifest, clock: this.clock }))
    this.joined = true
  }

  stop (): void {
    if (!this.joined) return
    this.gossip.leave(this.runId)
    this.gossip.removeEventListener('message', this.onMessage)
    this.joined = false
  }

  now (): number { return this.clock() }

  coverage (): TaskCoverage[] { return this.table.snapshot(this.clock()) }

  isHeld (task: string): boolean { return this.table.isHeldBy(task, this.self, this.clock()) }

  lastCheckpoint (task: string): CheckpointInfo | undefined { return this.table.lastCheckpoint(task) }

  /** Peers subscribed to the run topic (the run's swarm as this node sees it). */
  peers (): string[] { return this.gossip.subscribers(this.runId) }

  async claim (task: string): Promise<void> {
    const ts = this.clock()
    await this.send({ type: 'claim', task, leaseUntil: ts + this.manifest.leaseMs, nonce: newNonce() }, ts)
  }

  async progress (body: Omit<Body<'progress'>, 'nonce'>): Promise<void> {
    await this.send({ type: 'progress', ...body, nonce: newNonce() })
  }

  async checkpoint (body: Body<'checkpoint'>): Promise<void> {
    await this.send({ type: 'checkpoint', ...body })
  }

  async release (task: string): Promise<void> {
    await this.send({ type: 'release', task })
  }

  /**
   * A checkpoint this node missed on gossip (it joined later, or the message was lost), learned
   * from `via`'s coverage map after its content was checked (checkpoint-sync.ts). Listeners see
   * it as the announcement it stands for; a final even when the table knew it, since gossip may
   * have told of it before its holder's claim, and then nobody here judged it.
   */
  adoptCheckpoint (task: string, info: CheckpointInfo, via: string): ApplyOutcome {
    const outcome = this.table.adoptCheckpoint(task, info)
    if (outcome === 'applied' || (info.final && outcome !== 'unknown-task')) {
      const message: CheckpointMessage = {
        v: 1, run: this.runId, peer: info.peer, ts: info.ts, type: 'checkpoint',
        task, cid: info.cid, step: info.step, final: info.final, heldOutLoss: info.heldOutLoss
      }
      const detail = { run: this.runId, message, from: via, local: false, adopted: true }
      this.safeDispatchEvent('message', { detail })
    }
    return outcome
  }

  private async send (
    body: { type: GossipMessage['type'] } & Record<string, unknown>, ts = this.clock()
  ): Promise<void> {
    const msg = { v: 1, run: this.runId, peer: this.self, ts, ...body } as GossipMessage
    await this.gossip.publish(this.runId, encodeGossipMessage(msg))
  }

  private onMessage (evt: CustomEvent<GossipMessageDetail<GossipMessage>>): void {
    if (evt.detail.run !== this.runId) return
    const msg = evt.detail.message
    const now = this.clock()
    const outcome = this.table.apply(msg, now)
    if (msg.type === 'claim' && outcome === 'applied') this.noteRefusal(msg.task, msg.peer, now)
    this.safeDispatchEvent('message', { detail: evt.detail })
  }

  /** Logs a claim that does not count here for a lease rule, once per (task, peer, reason). */
  private noteRefusal (task: string, peer: string, now: number): void {
    const key = `${task}\u0000${peer}`
    const reason = this.table.refusalOf(task, peer, now)
    if (reason === this.refusals.get(key)) return
    if (reason === undefined) {
      this.refusals.delete(key)
    } else {
      this.refusals.set(key, reason)
      // Identities are free: keep the newest few thousand, at worst logging a refusal again.
      if (this.refusals.size > MAX_LOGGED_REFUSALS) this.refusals.delete(this.refusals.keys().next().value as string)
      // A lease rule refused it (PROTOCOL 5.8, 5.9); the others are ordinary lost races.
      const rule = reason === 'no-evidence' || reason === 'range-full'
      if (rule) this.log.warn('claim does not count here', { task, peer, reason })
      else this.log.debug('claim lost to earlier ones', { task, peer, reason })
    }
  }
}
