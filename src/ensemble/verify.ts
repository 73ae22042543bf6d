/**
 * Verification before assembly (DESIGN section 6, docs/PROTOCOL.md section 7.1): every
 * candidate final checkpoint of every task, replicas included, is fetched by CID with a
 * deadline and accepted or refused with a typed reason; among a task's accepted replicas the
 * lowest recomputed held-out loss wins (announced losses are shown, never trusted). One bad
 * checkpoint costs only itself: assembly fails only for a task left with no acceptable one.
 */
import { randomInt } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { AbortError, DiskFullError } from '../hddm-error.js'
import { CustomProgressEvent, type AbortOptions, type ProgressEvent, type ProgressOptions } from '../progress.js'
import {
  ensembleIdOf, parseEnsembleManifest, type EnsembleManifest, type EnsembleManifestInput, type RoutingText
} from '../protocol/ensemble-manifest.js'
import { maxCheckpointBytes } from '../protocol/fetch-limits.js'
import { createRunShards, type RunShards } from './run-shards.js'
import { FetchTimeoutError } from '../storage/errors.js'
import { checkFinite, checkRun, checkShape, decodeCandidate, recomputeHeldOutLoss, taskOf } from './checks.js'
import { CheckpointRefusedError, NoAcceptableCheckpointError, type RefusalReason } from './errors.js'
import type { ResolvedRunManifest, RunTask } from '../protocol/run-manifest.js'
import type { Checkpoint } from '../checkpoint/format.js'
import type { Storage } from '../storage/helia.js'

export interface CheckpointCandidate {
  /** The task it is offered for; absent for a CID given by hand (its metadata then names the task). */
  task?: string
  cid: string
  /** Peers that announced or reported it: asked for its blocks besides the swarm. */
  peers?: string[]
  /** The held-out loss it was announced with: shown next to the recomputed one, never trusted. */
  announcedLoss?: number
}

export interface CheckpointVerdict {
  /** The task it stands for (absent if that could not be told: not fetched, not a checkpoint). */
  task?: string
  cid: string
  accepted: boolean
  reason?: RefusalReason
  message?: string
  /** Recomputed: an expert's held-out loss on its cluster, the router's held-out error. */
  heldOutLoss?: number
  announcedLoss?: number
  step?: number
  /** The accepted checkpoint the ensemble uses for its task (best recomputed held-out loss). */
  chosen: boolean
}

export interface VerifiedCheckpoint {
  task: RunTask
  cid: CID
  checkpoint: Checkpoint
  heldOutLoss: number
}

export interface Verification {
  /** One per distinct (task, CID) candidate, in the order given. */
  verdicts: CheckpointVerdict[]
  /** The chosen checkpoint of each task that has an acceptable one, by task id. */
  chosen: Map<string, VerifiedCheckpoint>
  /** Tasks without an acceptable checkpoint, in manifest order. */
  missing: string[]
}

export interface VerifyCheckpointsInit {
  runId: string
  manifest: ResolvedRunManifest
  storage: Pick<Storage, 'getBytes'>
  /** Deadline of each fetch (a checkpoint, a held-out shard). @default 60_000 */
  timeoutMs?: number
  /** The run's shards, when the caller fetches them for other checks too. @default fetched here */
  shards?: RunShards
}

export type VerifyProgressEvents =
  | ProgressEvent<'hddm:ensemble:verify:fetch', { cid: string, task?: string }>
  | ProgressEvent<'hddm:ensemble:verify:verdict', CheckpointVerdict>

export interface VerifyCheckpointsOptions extends AbortOptions, ProgressOptions<VerifyProgressEvents> {
  /**
   * Seeds the held-out draws (batches, times, noise). Default: a fresh random one, so that no
   * trainer can tune a checkpoint to the draws it will be judged on; pass one to reproduce.
   */
  seed?: number
}

/**
 * Fetches and checks every candidate, then picks the best accepted one per task.
 * @throws AbortError when the signal fires; FetchTimeoutError when a held-out shard cannot be
 * fetched (without the run's own data nothing can be judged); DiskFullError when this node
 * cannot store what it fetches.
 */
export async function verifyCheckpoints (
  init: VerifyCheckpointsInit, candidates: CheckpointCandidate[], options: VerifyCheckpointsOptions = {}
): Promise<Verification> {
  const { manifest, storage } = init
  const timeoutMs = init.timeoutMs ?? 60_000
  // One seed for every candidate of this verification: replicas are compared on the same draws.
  const seed = options.seed ?? randomInt(1, 2 ** 31 - 1)
  const fetcher = init.shards ?? createRunShards({ manifest, storage, timeoutMs })
  const shards: RunShards = {
    heldOut: async (cluster) => await fetcher.heldOut(cluster, { signal: options.signal }),
    train: async (cluster) => await fetcher.train(cluster, { signal: options.signal })
  }

  const verdicts: CheckpointVerdict[] = []
  const accepted: Array<VerifiedCheckpoint & { verdict: CheckpointVerdict }> = []
  for (const candidate of dedupe(candidates)) {
    if (options.signal?.aborted === true) throw new AbortError()
    const verdict: CheckpointVerdict = {
      task: candidate.task,
      cid: candidate.cid,
      accepted: false,
      chosen: false,
      ...(candidate.announcedLoss !== undefined ? { announcedLoss: candidate.announcedLoss } : {})
    }
    const fetching = { cid: candidate.cid, task: candidate.task }
    options.onProgress?.(new CustomProgressEvent('hddm:ensemble:verify:fetch', fetching))
    try {
      const cid = parseCid(candidate.cid)
      const fetchOptions = { timeoutMs, maxBytes: maxCheckpointBytes(manifest), signal: options.signal }
      const checkpoint = decodeCandidate(await fetchCandidate(storage, cid, candidate.peers ?? [], fetchOptions))
      verdict.step = checkpoint.metadata.step
      checkRun(checkpoint, init.runId)
      const task = taskOf(manifest, checkpoint, candidate.task)
      verdict.task = task.id
      checkShape(manifest, task, checkpoint)
      checkFinite(checkpoint)
      const scoring = { signal: options.signal }
      verdict.heldOutLoss = await recomputeHeldOutLoss(manifest, task, checkpoint, shards, seed, scoring)
      verdict.accepted = true
      accepted.push({ task, cid, checkpoint, heldOutLoss: verdict.heldOutLoss, verdict })
    } catch (err) {
      if (!(err instanceof CheckpointRefusedError)) throw err
      verdict.reason = err.reason
      verdict.message = err.message
    }
    verdicts.push(verdict)
    options.onProgress?.(new CustomProgressEvent('hddm:ensemble:verify:verdict', verdict))
  }

  const chosen = new Map<string, VerifiedCheckpoint>()
  for (const a of accepted) {
    const best = chosen.get(a.task.id)
    if (beats(a, best)) {
      chosen.set(a.task.id, { task: a.task, cid: a.cid, checkpoint: a.checkpoint, heldOutLoss: a.heldOutLoss })
    }
  }
  for (const a of accepted) a.verdict.chosen = chosen.get(a.task.id)?.cid.equals(a.cid) === true
  const missing = manifest.tasks.filter((t) => !chosen.has(t.id)).map((t) => t.id)
  return { verdicts, chosen, missing }
}

/** Lower recomputed held-out loss wins; a tie goes to the lower CID, so every verifier picks the same. */
function beats (a: VerifiedCheckpoint, best: VerifiedCheckpoint | undefined): boolean {
  if (best === undefined || a.heldOutLoss < best.heldOutLoss) return true
  return a.heldOutLoss === best.heldOutLoss && a.cid.toString() < best.cid.toString()
}

/**
 * The ensemble manifest of a verification's chosen checkpoints (parsed: stored as is, it gets
 * the CID `id`), and that CID, the model's name.
 * @throws NoAcceptableCheckpointError when some task has none
 */
export async function ensembleFromVerification (
  runId: string, manifest: ResolvedRunManifest, verification: Verification, routing: RoutingText = 'full'
): Promise<{ id: CID, manifest: EnsembleManifest }> {
  if (verification.missing.length > 0) throw new NoAcceptableCheckpointError(verification.missing)
  const { chosen } = verification
  const router = manifest.tasks.find((t) => t.kind === 'router')!
  const ensemble: EnsembleManifestInput = {
    v: 1,
    run: CID.parse(runId),
    k: manifest.k,
    router: chosen.get(router.id)!.cid,
    experts: manifest.tasks.flatMap((t) => {
      return t.kind === 'expert' ? [{ cid: chosen.get(t.id)!.cid, cluster: t.cluster, objective: t.objective }] : []
    }),
    routing
  }
  return { id: await ensembleIdOf(ensemble), manifest: parseEnsembleManifest(ensemble) }
}

/** One candidate per (task, CID); the peers that offered it are merged. */
function dedupe (candidates: CheckpointCandidate[]): CheckpointCandidate[] {
  const byKey = new Map<string, CheckpointCandidate>()
  for (const c of candidates) {
    const key = `${c.task ?? ''}\u0000${c.cid}`
    const seen = byKey.get(key)
    if (seen === undefined) byKey.set(key, { ...c, peers: [...new Set(c.peers ?? [])] })
    else seen.peers = [...new Set([...(seen.peers ?? []), ...(c.peers ?? [])])]
  }
  return [...byKey.values()]
}

/** Peer ids from coverage maps are hints: one that does not parse is skipped, not fatal. */
function isPeerId (peer: string): boolean {
  try {
    peerIdFromString(peer)
    return true
  } catch {
    return false
  }
}

function parseCid (text: string): CID {
  try {
    return CID.parse(text)
  } catch {
    throw new CheckpointRefusedError('corrupt', `${text} is not a CID`)
  }
}

async function fetchCandidate (
  storage: Pick<Storage, 'getBytes'>, cid: CID, peers: string[],
  options: { timeoutMs: number, maxBytes: number, signal?: AbortSignal }
): Promise<Uint8Array> {
  try {
    const providers = peers.filter(isPeerId)
    return await storage.getBytes(cid, { ...options, providers: providers.length > 0 ? providers : undefined })
  } catch (err) {
    if (options.signal?.aborted === true) throw new AbortError()
    // Our own full disk says nothing about the checkpoint: the whole verification stops.
    if (err instanceof DiskFullError) throw err
    if (err instanceof FetchTimeoutError) {
      throw new CheckpointRefusedError('fetch-timeout', `no peer supplied it within ${options.timeoutMs} ms`)
    }
    // Not a UnixFS file, larger than any checkpoint of the run, or undecodable blocks.
    throw new CheckpointRefusedError('corrupt', `not a checkpoint file: ${(err as Error).message}`)
  }
}
