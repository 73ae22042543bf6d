/**
 * This node's view of one run: the joined gossip topic, the claim table fed by every accepted
 * message (ours included, as the gossip service echoes what we publish), and typed senders
 * that fill in the envelope so callers only say what they mean.
 */
import { TypedEventEmitter } from '@libp2p/interface'
import { ClaimTable, type ApplyOutcome, type CheckpointInfo, type TaskCoverage } from '../network/claims.js'
import { encodeGossipMessage } from '../protocol/codec.js'
import { newNonce, type CheckpointMessage, type GossipMessage } from '../protocol/messages.js'
import { createGossipValidator } from '../protocol/validate.js'
import type { Gossip, GossipMessageDetail } from '../network/gossip.js'
import type { ResolvedRunManifest } from '../protocol/run-manifest.js'

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
}

export interface RunStateComponents {
  gossip: Gossip
}

type Body<T extends GossipMessage['type']> = Omit<Extract<GossipMessage, { type: T }>, 'v' | 'run' | 'peer' | 'ts' | 'type'>

export class RunState extends TypedEventEmitter<RunStateEvents> {
  readonly runId: string
  readonly manifest: ResolvedRunManifest
  readonly table: ClaimTable
  private readonly self: string
  private readonly clock: () => number
  private readonly gossip: Gossip
  private joined = false

  constructor (init: RunStateInit, components: RunStateComponents) {
    super()
    this.runId = init.runId
    this.manifest = init.manifest
    this.self = init.self
    this.clock = init.clock
    this.gossip = components.gossip
    this.table = new ClaimTable(init.manifest)
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
   * it as the announcement it stands for.
   */
  adoptCheckpoint (task: string, info: CheckpointInfo, via: string): ApplyOutcome {
    const outcome = this.table.adoptCheckpoint(task, info)
    if (outcome === 'applied') {
      const message: CheckpointMessage = { v: 1, run: this.runId, peer: info.peer, ts: info.ts, type: 'checkpoint', task, cid: info.cid, step: info.step, final: info.final, heldOutLoss: info.heldOutLoss }
      this.safeDispatchEvent('message', { detail: { run: this.runId, message, from: via, local: false, adopted: true } })
    }
    return outcome
  }

  private async send (body: { type: GossipMessage['type'] } & Record<string, unknown>, ts = this.clock()): Promise<void> {
    const msg = { v: 1, run: this.runId, peer: this.self, ts, ...body } as GossipMessage
    await this.gossip.publish(this.runId, encodeGossipMessage(msg))
  }

  private onMessage (evt: CustomEvent<GossipMessageDetail<GossipMessage>>): void {
    if (evt.detail.run !== this.runId) return
    this.table.apply(evt.detail.message, this.clock())
    this.safeDispatchEvent('message', { detail: evt.detail })
  }
}
