/**
 * Drawing from an ensemble named by its manifest CID: here ({@link drawEnsembleHere}, fetching
 * from the swarm what the data directory lacks) or by a peer over /hddm/sample/1.0.0
 * ({@link drawEnsembleOnPeer}). Both end in the same PNG bytes per image (ensemble/serve.ts
 * `toPng`), so for one request and seed a remote draw equals a local one (on the same tfjs
 * backend: floating point differs between backends).
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { parseRouting } from '../diffusion/routing.js'
import { resolveEnsemble } from '../ensemble/resolve.js'
import { sampleEnsemble, type SampleEnsembleResult, type SamplerName } from '../ensemble/sample.js'
import { toPng } from '../ensemble/serve.js'
import { requestSamples } from '../network/sample-client.js'
import { connectSwarm, type ConnectSwarmInit } from './connect.js'
import type { AbortOptions } from '../progress.js'

/** What to draw: one image per prompt, prompts repeated as the caller wants them. */
export interface DrawRequest {
  ensemble: CID
  prompts: string[]
  steps: number
  seed: number
  guidance: number
  /** A routing rule (`full`, `top1`, `threshold:0.05`); default: the manifest's. */
  routing?: string
  /** Deadline for fetching the ensemble's blocks, or for the peer's answer. */
  timeoutMs: number
}

/** How this process joins the swarm to draw. */
export type DrawSwarmInit = Pick<
  ConnectSwarmInit, 'dataDir' | 'bootstrap' | 'scope' | 'swarmKeyFile' | 'allowPeers' | 'logger'
>

export interface DrawnImages {
  /** One PNG per prompt, in the order asked. */
  pngs: Uint8Array[]
  /** Local draws only (the sample protocol does not report them): router weight per expert. */
  usage?: Array<{ cluster: number, objective: string, meanWeight: number, evaluations: number }>
  flops?: SampleEnsembleResult['flops']
}

/**
 * Draws here on the current tfjs backend (initialise it first): joins the swarm with the data
 * directory's identity and blocks, fetches what is missing, loads the ensemble and samples.
 */
export async function drawEnsembleHere (
  init: DrawRequest & DrawSwarmInit & { sampler: SamplerName }, options: AbortOptions = {}
): Promise<DrawnImages> {
  const { storage, stop } = await connectSwarm(swarmInit(init), options)
  try {
    const fetch = { timeoutMs: init.timeoutMs, signal: options.signal }
    const ensemble = await resolveEnsemble(storage, init.ensemble, fetch)
    try {
      const result = await sampleEnsemble({
        members: ensemble.members,
        router: ensemble.router,
        tokenizer: ensemble.tokenizer,
        prompts: init.prompts,
        steps: init.steps,
        seed: init.seed,
        routing: init.routing !== undefined ? parseRouting(init.routing) : ensemble.routing,
        guidance: init.guidance,
        sampler: init.sampler
      })
      return {
        pngs: init.prompts.map((_, i) => toPng(result.images, result.shape, i)),
        usage: result.usage.map((u, k) => ({ ...u, objective: ensemble.manifest.experts[k].objective })),
        flops: result.flops
      }
    } finally {
      ensemble.dispose()
    }
  } finally {
    await stop()
  }
}

/**
 * Asks `peer` to draw (Euler steps: the protocol has no sampler field). Without a data directory
 * the identity is a throwaway one: asking a peer needs no blocks, so no storage is opened.
 */
export async function drawEnsembleOnPeer (
  init: DrawRequest & DrawSwarmInit & { peer: Multiaddr }, options: AbortOptions = {}
): Promise<DrawnImages> {
  const { swarm, stop } = await connectSwarm({ ...swarmInit(init), storage: false }, options)
  try {
    const images = await requestSamples(swarm.libp2p, init.peer, {
      v: 1,
      ensemble: init.ensemble.toString(),
      prompts: init.prompts,
      count: init.prompts.length,
      steps: init.steps,
      seed: init.seed,
      guidance: init.guidance,
      ...(init.routing !== undefined ? { routing: init.routing } : {})
    }, { timeoutMs: init.timeoutMs, signal: options.signal })
    return { pngs: images.map((image) => image.png) }
  } finally {
    await stop()
  }
}

function swarmInit (init: DrawSwarmInit): DrawSwarmInit {
  const { dataDir, bootstrap, scope, swarmKeyFile, allowPeers, logger } = init
  return { dataDir, bootstrap, scope, swarmKeyFile, allowPeers, logger }
}
