import { TopicValidatorResult } from '@libp2p/gossipsub'
import { TypedEventEmitter } from '@libp2p/interface'
import { runTopic } from '../protocol/topics.js'
import { silentLogger, type Logger } from '../logger.js'
import { InvalidGossipMessageError, NotJoinedError, NotStartedError } from './errors.js'
import { deleteTopicScoreParams, setTopicScoreParams, type PubSub } from './pubsub.js'
import type { GossipMessage } from '../protocol/messages.js'
import type { AbortOptions } from '../progress.js'
import type { Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

/**
 * What a run topic's validator returns (src/protocol's `createGossipValidator` has this shape):
 * the decoded message on accept, else a bounded code that labels the outcome counters.
 */
export type RunValidation<M> =
  | { action: 'accept', message: M }
  | { action: 'reject' | 'ignore', code: string, reason: string }

export interface RunValidator<M> {
  (bytes: Uint8Array, from: string): RunValidation<M>
  /** Forgets that `bytes` were accepted, so that a publication that failed can be retried. */
  forget?: (bytes: Uint8Array) => void
}

export interface GossipMessageDetail<M> {
  /** Canonical run CID string. */
  run: string
  message: M
  /** The peer that signed the message (gossipsub StrictSign `from`). */
  from: string
  /** True for a message this node published itself (gossipsub never echoes those). */
  local: boolean
}

export interface GossipEvents<M> {
  message: CustomEvent<GossipMessageDetail<M>>
}

/** Outcome counters of one run topic, keyed `accept` or `<action>:<code>` (e.g. `reject:forged`). */
export type GossipCounters = Record<string, number>

export interface GossipInit {
  logger?: Logger
}

export interface GossipComponents {
  pubsub: PubSub
  /** This node's id: the `from` of what it publishes. */
  peerId: PeerId
}

interface Joined<M> {
  topic: string
  validator: RunValidator<M>
  counters: GossipCounters
}

const TO_GOSSIPSUB = {
  accept: TopicValidatorResult.Accept,
  reject: TopicValidatorResult.Reject,
  ignore: TopicValidatorResult.Ignore
} as const

/**
 * Run topics over gossipsub: one topic per run, a validator per topic whose REJECTs feed the
 * peer score, and typed `message` events carrying the decoded message and its signer.
 */
export class Gossip<M = GossipMessage> extends TypedEventEmitter<GossipEvents<M>> {
  private readonly pubsub: PubSub
  private readonly peerId: PeerId
  private readonly log: Logger
  private readonly runs = new Map<string, Joined<M>>()
  // The validator already decoded the bytes; gossipsub hands the same Message object to the
  // 'message' event, so the decoded form is looked up instead of decoding twice.
  private readonly decoded = new WeakMap<Message, M>()
  private started = false

  constructor (init: GossipInit, components: GossipComponents) {
    super()
    this.pubsub = components.pubsub
    this.peerId = components.peerId
    this.log = (init.logger ?? silentLogger).child('gossip')
    this.onMessage = this.onMessage.bind(this)
  }

  async start (): Promise<void> {
    if (this.started) return
    this.pubsub.addEventListener('message', this.onMessage)
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    for (const run of [...this.runs.keys()]) this.leave(run)
    this.pubsub.removeEventListener('message', this.onMessage)
    this.started = false
  }

  /** Subscribes to the run's topic; every inbound message goes through `validator` first. */
  join (run: string | CID, validator: RunValidator<M>): void {
    this.assertStarted()
    const topic = runTopic(run)
    const key = keyOf(topic)
    if (this.runs.has(key)) this.leave(key)
    const joined: Joined<M> = { topic, validator, counters: {} }
    this.runs.set(key, joined)
    setTopicScoreParams(this.pubsub, topic)
    this.pubsub.topicValidators.set(topic, (peer, msg) => this.validate(joined, msg))
    this.pubsub.subscribe(topic)
    this.log.info('joined run', { run: key })
  }

  leave (run: string | CID): void {
    const topic = runTopic(run)
    const key = keyOf(topic)
    if (!this.runs.delete(key)) return
    this.pubsub.unsubscribe(topic)
    this.pubsub.topicValidators.delete(topic)
    deleteTopicScoreParams(this.pubsub, topic)
    this.log.info('left run', { run: key })
  }

  /**
   * Publishes bytes on the run topic after checking them with the run's own validator: a node
   * never sends what its peers would reject (which would cost it score), and its own message is
   * emitted locally so that local state (the claim table) sees exactly what peers see.
   *
   * @returns how many peers the message was sent to directly
   */
  async publish (run: string | CID, bytes: Uint8Array, options: AbortOptions = {}): Promise<{ recipients: number }> {
    const joined = this.joined(run)
    const self = this.peerId.toString()
    const result = joined.validator(bytes, self)
    if (result.action !== 'accept') {
      const message = `refusing to publish a message peers would ${result.action}: ${result.code}: ${result.reason}`
      throw new InvalidGossipMessageError(message, result.code)
    }
    let recipients: unknown[]
    try {
      options.signal?.throwIfAborted()
      recipients = (await this.pubsub.publish(joined.topic, bytes)).recipients
    } catch (err) {
      // Nobody received it: it must not stay marked as seen, or every retry is a "duplicate".
      joined.validator.forget?.(bytes)
      throw err
    }
    const detail = { run: keyOf(joined.topic), message: result.message, from: self, local: true }
    this.safeDispatchEvent('message', { detail })
    return { recipients: recipients.length }
  }

  /** Outcome counters of a joined run since it was joined. */
  counters (run: string | CID): GossipCounters {
    return { ...this.joined(run).counters }
  }

  /** Peers known to be subscribed to the run's topic. */
  subscribers (run: string | CID): string[] {
    return this.pubsub.getSubscribers(runTopic(run)).map(String)
  }

  /** Runs this node has joined (canonical CID strings). */
  get runIds (): string[] { return [...this.runs.keys()] }

  private validate (joined: Joined<M>, msg: Message): TopicValidatorResult {
    // StrictSign already dropped unsigned messages; this guards against a policy change.
    if (msg.type !== 'signed') return this.count(joined, 'reject', 'unsigned')
    let result: RunValidation<M>
    try {
      result = joined.validator(msg.data, msg.from.toString())
    } catch (err) {
      this.log.warn('validator threw', { topic: joined.topic }, err)
      return this.count(joined, 'ignore', 'validator-error')
    }
    if (result.action === 'accept') {
      this.decoded.set(msg, result.message)
      return this.count(joined, 'accept')
    }
    this.log.debug('gossip message refused', { from: msg.from.toString(), action: result.action, code: result.code })
    return this.count(joined, result.action, result.code)
  }

  private count (joined: Joined<M>, action: keyof typeof TO_GOSSIPSUB, code?: string): TopicValidatorResult {
    const key = code === undefined ? action : `${action}:${code}`
    joined.counters[key] = (joined.counters[key] ?? 0) + 1
    return TO_GOSSIPSUB[action]
  }

  private onMessage (evt: CustomEvent<Message>): void {
    const msg = evt.detail
    if (msg.type !== 'signed') return
    const message = this.decoded.get(msg)
    if (message === undefined) return
    const run = keyOf(msg.topic)
    if (!this.runs.has(run)) return
    this.safeDispatchEvent('message', { detail: { run, message, from: msg.from.toString(), local: false } })
  }

  private joined (run: string | CID): Joined<M> {
    this.assertStarted()
    const joined = this.runs.get(keyOf(runTopic(run)))
    if (joined == null) throw new NotJoinedError(`this node has not joined run ${run.toString()}`)
    return joined
  }

  private assertStarted (): void {
    if (!this.started) throw new NotStartedError('the gossip service is not started')
  }
}

function keyOf (topic: string): string {
  return topic.slice(topic.lastIndexOf('/') + 1)
}

export function createGossip<M = GossipMessage> (init: GossipInit, components: GossipComponents): Gossip<M> {
  return new Gossip<M>(init, components)
}
