/**
 * The swarm: one libp2p node per peer, its identity, and run gossip.
 *
 * - {@link createSwarmNode} builds libp2p 3 with TCP + Noise + Yamux, identify, ping, gossipsub
 *   (StrictSign, run-topic scoring), a private Kademlia DHT (`/hddm/kad/1.0.0`) and optional
 *   mDNS; its bootstrap peers are dialled by connectSwarm (src/node/connect.ts). Never the public
 *   defaults: no IPFS bootstrappers, public DHT, delegated routing, relay, UPnP, autoTLS or
 *   WebRTC. With a `dataDir` the node takes `<dataDir>/LOCK` ({@link DataDirInUseError} if
 *   another live process holds it) and keeps its Ed25519 key in `<dataDir>/identity.key` (mode
 *   0600), so the same directory is the same peer.
 *   A private swarm adds a pre-shared key (`swarmKey`/`swarmKeyFile`, {@link writeSwarmKey}):
 *   peers without it cannot connect at all; `allowPeers` further limits it to listed peer ids.
 * - {@link createGossip} joins runs: one topic per run (`/hddm/1/run/<runCID>`), a validator per
 *   topic (src/protocol's `createGossipValidator`) whose REJECTs lower the sender's gossipsub
 *   score ({@link RUN_TOPIC_SCORE_PARAMS}: one reject puts it under the gossip threshold, two
 *   under the graylist threshold), and typed `message` events with the decoded message and signer.
 *
 * @example
 * ```ts
 * const { swarm } = await connectSwarm({ dataDir, listen: ['/ip4/0.0.0.0/tcp/4711'], bootstrap })
 * const gossip = createGossip({}, { pubsub: swarm.pubsub, peerId: swarm.peerId })
 * await gossip.start()
 * gossip.join(runCid, createGossipValidator({ run: runCid, manifest }))
 * gossip.addEventListener('message', (evt) => { table.apply(evt.detail.message, Date.now()) })
 * await gossip.publish(runCid, encodeGossipMessage(claim))
 * ```
 */
export * from './errors.js'
export { ClaimTable } from './claims.js'
export {
  compareCheckpoints, type ApplyOutcome, type CheckpointInfo, type ClaimRefusal, type ClaimTableInit, type Holder,
  type LeasePenalty, type TaskCoverage
} from './claim-types.js'
export type { Evidence, EvidenceHistory, EvidenceOutcome, Penalty } from './evidence-log.js'
export { pickTask, rankTasks, rendezvousScore } from './rendezvous.js'
export { createSwarmNode, SwarmNode, type SwarmNodeInit, type SwarmLibp2p, type ServiceStatus } from './swarm-node.js'
export {
  swarmLibp2pOptions, repairCounters, DEFAULT_LISTEN, DHT_PROTOCOL, MAX_GOSSIP_RPC_BYTES, MAX_STREAM_READ_BUFFER_BYTES,
  type SwarmNetworkInit, type SwarmServices, type RepairCounters
} from './libp2p.js'
export {
  scopeGater, allowlistGater, composeGaters, logRefusals, inScope,
  type NetworkScope, type ConnectionRefusalReason, type ConnectionRefusal, type OnRefusal
} from './gater.js'
export {
  parseSwarmKey, readSwarmKey, writeSwarmKey, generateSwarmKey, SWARM_KEY_HEADER, type WriteSwarmKeyOptions
} from './swarm-key.js'
export { loadOrCreateIdentity, IDENTITY_FILE } from './identity.js'
export { acquireDataDirLock, LOCK_FILE, type DataDirLock } from './data-dir-lock.js'
export {
  createGossip, Gossip, type GossipInit, type GossipComponents, type GossipEvents, type GossipMessageDetail,
  type GossipCounters, type RunValidator, type RunValidation
} from './gossip.js'
export { RUN_TOPIC_SCORE_PARAMS, setTopicScoreParams, type PubSub } from './pubsub.js'
export { loadBootstrapList, BootstrapListSchema, DEFAULT_BOOTSTRAP_LIST, type BootstrapList } from './bootstrap-list.js'
export {
  createSampleService, SampleService, type SampleHandler, type SampleHandlerOptions, type SampleImage,
  type SampleServiceInit, type SampleServiceComponents, type SampleCounters
} from './sample-service.js'
export { requestSamples, type RequestSamplesOptions, type RemoteSampleProgressEvent } from './sample-client.js'
export { libp2pMetrics, buildWithMetrics, type WithMetrics } from './libp2p-metrics.js'
export { SampleRefusedError, SampleProtocolError } from './sample-errors.js'
