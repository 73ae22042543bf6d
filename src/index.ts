/**
 * @packageDocumentation
 *
 * hddm trains a diffusion model as a set of independent experts over a peer-to-peer network
 * ("Heterogeneous Decentralized Diffusion Models"): each contributor trains one expert on one
 * data cluster with its own objective (DDPM epsilon-prediction or flow matching), publishes the
 * checkpoint into IPFS by CID, and any peer mixes the experts with a router after converting
 * every expert into one velocity space.
 *
 * This entry has no side effects beyond the Node 20 polyfill that libp2p needs.
 */
import './polyfills.js'

export * from './errors.js'
export * from './progress.js'
export * from './logger.js'
export * from './model/index.js'
export * from './diffusion/index.js'
export * from './runtime/index.js'
export * from './data/index.js'
export * from './protocol/index.js'
export * from './network/index.js'
export * from './storage/swarm-storage.js'
export * from './checkpoint/index.js'
export * from './training/index.js'
export * from './ensemble/index.js'
export * from './node/index.js'
export * from './eval/index.js'
export * from './dashboard/index.js'
