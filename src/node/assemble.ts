/**
 * From a finished run to a model, one path for every caller (`hddm-node ensemble`, `simulate`,
 * programs): verify every candidate final checkpoint of every task (replicas included;
 * src/ensemble/verify.ts) and keep the best acceptable one per task ({@link verifyFinals}), name
 * the ensemble (router + experts) by its manifest CID ({@link nameEnsemble}), then store and
 * announce the manifest ({@link publishEnsemble}) or load the models to sample
 * ({@link assembleEnsemble}). A refused checkpoint costs only itself; naming fails with
 * NoAcceptableCheckpointError only when a task is left without an acceptable one.
 */
import type { CID } from 'multiformats/cid'
import { decodeShard } from '../data/shard.js'
import { imageGrid } from '../data/png.js'
import { Tokenizer } from '../data/tokenizer.js'
import { parseRouting } from '../diffusion/routing.js'
import { candidatesFromCoverage } from '../ensemble/candidates.js'
import { loadRouter, type LoadedRouter } from '../checkpoint/router.js'
import { loadExpert, type LoadedExpert } from '../checkpoint/expert.js'
import { createRunShards } from '../ensemble/run-shards.js'
import { sampleEnsemble } from '../ensemble/sample.js'
import {
  ensembleFromVerification, verifyCheckpoints,
  type CheckpointCandidate, type Verification, type VerifyCheckpointsOptions
} from '../ensemble/verify.js'
import { silentLogger, type Logger } from '../logger.js'
import { InvalidManifestError } from '../protocol/errors.js'
import { encodeEnsembleManifest, type EnsembleManifest, type RoutingText } from '../protocol/ensemble-manifest.js'
import type { TaskCoverage } from '../network/claim-types.js'
import type { AbortOptions } from '../progress.js'
import type { ResolvedRunManifest } from '../protocol/run-manifest.js'
import type { Storage } from '../storage/helia.js'
import type { RunShards } from '../ensemble/run-shards.js'

export interface AssembleInit {
  runId: string
  manifest: ResolvedRunManifest
  storage: Pick<Storage, 'getBytes'>
  /** A coverage map (this node's): its final checkpoints are candidates. */
  coverage?: TaskCoverage[]
  /** Peers' coverage maps: their final checkpoints are candidates too. */
  peerCoverage?: TaskCoverage[][]
  /** Checkpoints given by hand (their metadata names their task): verified instead of the coverage maps' finals. */
  candidates?: CheckpointCandidate[]
  /** Default routing of the ensemble. @default 'full' */
  routing?: RoutingText
  /** Deadline of each fetch (a checkpoint, a shard). @default 60_000 */
  timeoutMs?: number
  /** The run's shards, when the caller already fetches them. @default fetched here, once */
  shards?: RunShards
}

/** An ensemble named by its manifest CID, with the verification it came from. */
export interface NamedEnsemble {
  ensembleId: CID
  manifest: EnsembleManifest
  /** Chosen checkpoint CID per task id. */
  checkpoints: Record<string, string>
  /** Every candidate's verdict (accepted or refused, with the reason). */
  verification: Verification
}

export interface AssembledEnsemble extends NamedEnsemble {
  /** Every distinct prompt of the run, sorted. */
  prompts: string[]
  tokenizer: Tokenizer
  router: LoadedRouter
  experts: Array<{ cluster: number, expert: LoadedExpert }>
  dispose: () => void
}

/** Fetches and checks every candidate; `missing` lists the tasks left without an acceptable one. */
export async function verifyFinals (
  init: AssembleInit, options: VerifyCheckpointsOptions = {}
): Promise<Verification> {
  const views = [init.coverage ?? [], ...(init.peerCoverage ?? [])]
  const candidates = init.candidates ?? candidatesFromCoverage(views)
  const { runId, manifest, storage, timeoutMs, shards } = init
  return await verifyCheckpoints({ runId, manifest, storage, timeoutMs, shards }, candidates, options)
}

/**
 * The ensemble of a verification's chosen checkpoints, named by its manifest CID.
 * @throws NoAcceptableCheckpointError when some task has none
 */
export async function nameEnsemble (
  init: Pick<AssembleInit, 'runId' | 'manifest' | 'routing'>, verification: Verification
): Promise<NamedEnsemble> {
  const { runId, routing } = init
  const { id: ensembleId, manifest } = await ensembleFromVerification(runId, init.manifest, verification, routing)
  const checkpoints = Object.fromEntries([...verification.chosen].map(([task, v]) => [task, v.cid.toString()]))
  return { ensembleId, manifest, checkpoints, verification }
}

export interface PublishEnsembleOptions extends AbortOptions {
  /** Announce the manifest in the swarm DHT too. @default true */
  provide?: boolean
  /** How long the announcement may take; then it is given up (connected peers can still fetch). @default 10_000 */
  provideTimeoutMs?: number
  logger?: Logger
}

export interface PublishedEnsemble {
  id: CID
  /** The manifest's canonical dag-json bytes. */
  bytes: Uint8Array
  /** Whether the DHT announcement went through. */
  provided: boolean
}

/**
 * Stores the manifest (pinned, with the checkpoints it names already held) and announces it.
 * @throws InvalidManifestError if Helia's dag-json stores it under another CID than its canonical one
 */
export async function publishEnsemble (
  storage: Pick<Storage, 'putJson' | 'provide'>, named: Pick<NamedEnsemble, 'ensembleId' | 'manifest'>,
  options: PublishEnsembleOptions = {}
): Promise<PublishedEnsemble> {
  const bytes = encodeEnsembleManifest(named.manifest)
  const id = await storage.putJson(named.manifest, { signal: options.signal })
  // Helia's dag-json must agree with the canonical encoding, or peers would ask for a CID nobody holds.
  const canonical = named.ensembleId.toString()
  if (id.toString() !== canonical) {
    const message = `stored ensemble manifest CID ${id.toString()} differs from its canonical CID ${canonical}`
    throw new InvalidManifestError(message)
  }
  if (options.provide === false) return { id, bytes, provided: false }
  try {
    await storage.provide(id, { timeoutMs: options.provideTimeoutMs ?? 10_000, signal: options.signal })
    return { id, bytes, provided: true }
  } catch (err) {
    if (options.signal?.aborted === true) throw err
    const log = options.logger ?? silentLogger
    const context = { ensemble: id.toString() }
    log.warn('could not announce the ensemble in the DHT; connected peers can still fetch it', context, err)
    return { id, bytes, provided: false }
  }
}

/**
 * Verifies, names and loads the ensemble: the router, the experts, the run's tokenizer and its
 * prompts (from the held-out shards), ready to sample.
 * @throws NoAcceptableCheckpointError when some task has no acceptable checkpoint
 */
export async function assembleEnsemble (
  init: AssembleInit, options: VerifyCheckpointsOptions = {}
): Promise<AssembledEnsemble> {
  const { manifest } = init
  // Verification fetches the held-out shards; the prompts and tokenizer come from the same fetches.
  const shards = init.shards ?? createRunShards({ manifest, storage: init.storage, timeoutMs: init.timeoutMs })
  const named = await nameEnsemble(init, await verifyFinals({ ...init, shards }, options))
  const prompts = new Set<string>()
  let tokenizer: Tokenizer | undefined
  for (const shard of manifest.resolved.shards) {
    const header = decodeShard(await shards.heldOut(shard.cluster, { signal: options.signal })).header
    header.prompts.forEach((p) => prompts.add(p))
    tokenizer ??= Tokenizer.fromJSON(header.tokenizer)
  }
  const chosen = named.verification.chosen
  const routerTask = manifest.tasks.find((t) => t.kind === 'router')!
  const router = loadRouter(chosen.get(routerTask.id)!.checkpoint)
  const experts: AssembledEnsemble['experts'] = []
  const dispose = (): void => {
    router.dispose()
    for (const e of experts) e.expert.dispose()
  }
  try {
    for (const task of manifest.tasks) {
      if (task.kind !== 'expert') continue
      experts.push({ cluster: task.cluster, expert: loadExpert(chosen.get(task.id)!.checkpoint) })
    }
  } catch (err) {
    dispose()
    throw err
  }
  return { ...named, prompts: [...prompts].sort(), tokenizer: tokenizer!, router, experts, dispose }
}

export interface SampleGridOptions {
  perPrompt?: number
  steps?: number
  guidance?: number
  seed?: number
}

/** A PNG with one row per prompt (`perPrompt` samples each), sampled with full routing. */
export async function sampleGrid (ensemble: AssembledEnsemble, options: SampleGridOptions = {}): Promise<Uint8Array> {
  const perPrompt = options.perPrompt ?? 8
  const prompts = ensemble.prompts.flatMap((p) => Array.from({ length: perPrompt }, () => p))
  const result = await sampleEnsemble({
    members: ensemble.experts,
    router: ensemble.router,
    tokenizer: ensemble.tokenizer,
    prompts,
    steps: options.steps ?? 20,
    seed: options.seed ?? 0,
    routing: parseRouting('full'),
    guidance: options.guidance ?? 2
  })
  const [, height, width, channels] = result.shape
  return imageGrid({ width, height, channels, pixels: result.images }, { cols: perPrompt, scale: 2 })
}
