import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import type { GossipSub } from '@libp2p/gossipsub'
import type { PeerScoreParams, TopicScoreParams } from '@libp2p/gossipsub/score'

/**
 * The exported `GossipSub` interface is narrower than the runtime class: these members exist
 * on @libp2p/gossipsub 17 and we rely on them (scores in tests and metrics, mesh for readiness,
 * per-topic score parameters for topics that only become known at run time, streams to keep open).
 */
export interface PubSub extends GossipSub {
  getScore: (peerId: string) => number
  getMeshPeers: (topic: string) => string[]
  readonly score: { readonly params: PeerScoreParams }
  /** The protocols it speaks, and its outbound stream per peer id (gossip-streams.ts keeps them open). */
  readonly protocols: string[]
  readonly streamsOutbound: ReadonlyMap<string, unknown>
}

/**
 * Score parameters for a run topic. Runs are quiet (a few claims and progress messages a
 * minute), so delivery-rate terms (P3, P3b) are off: they would punish honest quiet peers.
 * What counts is P4, invalid deliveries: one REJECT puts a peer under the gossip threshold
 * (-10), a second under the graylist threshold (-80), after which its RPCs are ignored. The
 * counter halves in about a minute (decay 0.99 per 1 s interval), so a peer that stops
 * misbehaving is forgiven.
 */
export const RUN_TOPIC_SCORE_PARAMS: Partial<TopicScoreParams> = {
  topicWeight: 1,
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 300,
  firstMessageDeliveriesWeight: 1,
  firstMessageDeliveriesDecay: 0.9,
  firstMessageDeliveriesCap: 5,
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  invalidMessageDeliveriesWeight: -40,
  invalidMessageDeliveriesDecay: 0.99
}

/**
 * Gossipsub only scores topics present in `scoreParams.topics`, a record fixed at construction,
 * while run topics are joined later. The live score object shares that record, so adding the
 * topic there is what go-libp2p's `SetTopicScoreParams` does.
 */
export function setTopicScoreParams (
  pubsub: PubSub, topic: string, params: Partial<TopicScoreParams> = RUN_TOPIC_SCORE_PARAMS
): void {
  const topics = pubsub.score?.params?.topics
  if (topics == null) throw new TypeError('gossipsub no longer exposes score.params.topics; update setTopicScoreParams')
  topics[topic] = createTopicScoreParams(params)
}

export function deleteTopicScoreParams (pubsub: PubSub, topic: string): void {
  const topics = pubsub.score?.params?.topics
  if (topics != null) Reflect.deleteProperty(topics, topic)
}

/**
 * Mesh formation (issue 16). Peers join through a few bootstrap peers, so a bootstrap peer sees
 * every run subscriber while a new peer sees little beyond it; once the bootstrap peer's mesh
 * passes Dhi it prunes the surplus, and a pruned peer that knows no other subscriber stays
 * meshless for the prune backoff (a minute), getting messages only by IHAVE/IWANT at heartbeats:
 * that was the gossip p99 tail. With peer exchange a PRUNE carries signed records of other
 * subscribers, and the pruned peer dials them. Gossipsub accepts PX only from peers scoring at
 * least `acceptPXThreshold` (default 10, meant for bootstrap peers boosted by an app score); our
 * peers' scores sit near 0 until they have delivered messages, so we accept it from any peer
 * that has not misbehaved (score >= 0): one REJECT already drops a peer below 0. What PX can
 * do is make us dial at most `prunePeers` signed peer records per PRUNE, which the connection
 * manager bounds.
 */
export const MESH_OPTIONS = {
  doPX: true,
  scoreThresholds: { acceptPXThreshold: 0 }
} as const
