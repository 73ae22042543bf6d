/**
 * An ensemble from its manifest CID: fetch the manifest (dag-json), then the router and every
 * expert checkpoint by CID, check each (finite values, the objective and cluster the manifest
 * states, the run it names), and load them. Anyone holding only the ensemble CID can sample.
 */
import type { CID } from 'multiformats/cid'
import { decodeEnsembleManifest, type EnsembleManifest } from '../protocol/ensemble-manifest.js'
import { MAX_ENSEMBLE_CHECKPOINT_BYTES } from '../protocol/fetch-limits.js'
import { parseRouting, type Routing } from '../diffusion/routing.js'
import { allFinite, decodeCheckpoint, type Checkpoint } from '../checkpoint/format.js'
import { CorruptCheckpointError, ShapeMismatchError } from '../checkpoint/errors.js'
import { loadRouter, type LoadedRouter } from '../checkpoint/router.js'
import { loadExpert } from '../checkpoint/expert.js'
import type { EnsembleMember } from './sample.js'
import type { Tokenizer } from '../data/tokenizer.js'
import type { Storage } from '../storage/helia.js'
import type { AbortOptions } from '../progress.js'

export interface LoadedEnsemble {
  id: string
  manifest: EnsembleManifest
  router: LoadedRouter
  members: EnsembleMember[]
  tokenizer: Tokenizer
  routing: Routing
  dispose: () => void
}

export interface ResolveEnsembleOptions extends AbortOptions {
  timeoutMs?: number
  /** Only use blocks already held locally (a server that does not fetch for strangers). */
  offline?: boolean
  /** The largest checkpoint file fetched or read. @default MAX_ENSEMBLE_CHECKPOINT_BYTES */
  maxBytes?: number
}

async function fetchCheckpoint (
  storage: Pick<Storage, 'getBytes'>, cid: CID, options: ResolveEnsembleOptions
): Promise<Checkpoint> {
  const maxBytes = options.maxBytes ?? MAX_ENSEMBLE_CHECKPOINT_BYTES
  const checkpoint = decodeCheckpoint(await storage.getBytes(cid, { ...options, maxBytes }))
  if (!allFinite(checkpoint.tensors)) {
    throw new CorruptCheckpointError(`checkpoint ${cid.toString()} has NaN or Inf values`)
  }
  return checkpoint
}

export async function resolveEnsemble (
  storage: Pick<Storage, 'getJsonBytes' | 'getBytes'>, id: CID, options: ResolveEnsembleOptions = {}
): Promise<LoadedEnsemble> {
  // The decoder's size cap bounds what a peer can make us parse (`maxBytes` is the checkpoints').
  const manifest = decodeEnsembleManifest(await storage.getJsonBytes(id, { ...options, maxBytes: undefined }))
  const routerCheckpoint = await fetchCheckpoint(storage, manifest.router, options)
  const expertCheckpoints: Checkpoint[] = []
  for (const e of manifest.experts) {
    const checkpoint = await fetchCheckpoint(storage, e.cid, options)
    const m = checkpoint.metadata
    const runId = manifest.run.toString()
    const sameCluster = m.cluster === undefined || m.cluster === e.cluster
    const sameRun = m.run === undefined || m.run === runId
    if (m.objective !== e.objective || !sameCluster || !sameRun) {
      const found = `${String(m.objective)} on cluster ${String(m.cluster)} of run ${String(m.run)}`
      const listed = `${e.objective} on cluster ${e.cluster} of ${runId}`
      throw new ShapeMismatchError(`checkpoint ${e.cid.toString()} is ${found}, the manifest says ${listed}`)
    }
    expertCheckpoints.push(checkpoint)
  }
  const router = loadRouter(routerCheckpoint)
  const members: EnsembleMember[] = []
  const dispose = (): void => { router.dispose(); for (const m of members) m.expert.dispose() }
  try {
    manifest.experts.forEach((e, i) => members.push({ cluster: e.cluster, expert: loadExpert(expertCheckpoints[i]) }))
  } catch (err) {
    dispose()
    throw err
  }
  const tokenizer = members[0].expert.tokenizer
  return { id: id.toString(), manifest, router, members, tokenizer, routing: parseRouting(manifest.routing), dispose }
}
