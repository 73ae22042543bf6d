/**
 * From a finished run to a model: fetch every task's final checkpoint by CID, check it (shapes
 * via loading, finite values), name the ensemble (router + experts) by its manifest CID, and
 * sample a grid of every prompt of the run.
 */
import { CID } from 'multiformats/cid'
import { decodeShard } from '../data/shard.js'
import { imageGrid } from '../data/png.js'
import { Tokenizer } from '../data/tokenizer.js'
import { parseRouting } from '../diffusion/routing.js'
import { loadExpert, loadRouter, type LoadedExpert, type LoadedRouter } from '../ensemble/load.js'
import { sampleEnsemble } from '../ensemble/sample.js'
import { ensembleIdOf, type EnsembleManifestInput } from '../protocol/ensemble-manifest.js'
import { allFinite, decodeCheckpoint, type Checkpoint } from '../storage/checkpoint.js'
import { CorruptCheckpointError } from '../storage/checkpoint-errors.js'
import { TaskDataMismatchError } from './errors.js'
import type { TaskCoverage } from '../network/claims.js'
import type { ResolvedRunManifest } from '../protocol/run-manifest.js'
import type { Storage } from '../storage/helia.js'

export interface AssembleInit {
  runId: string
  manifest: ResolvedRunManifest
  coverage: TaskCoverage[]
  storage: Pick<Storage, 'getBytes' | 'putJson'>
}

export interface AssembledEnsemble {
  ensembleId: CID
  manifest: EnsembleManifestInput
  /** Final checkpoint CID per task id. */
  checkpoints: Record<string, string>
  /** Every distinct prompt of the run, sorted. */
  prompts: string[]
  tokenizer: Tokenizer
  router: LoadedRouter
  experts: Array<{ cluster: number, expert: LoadedExpert }>
  dispose: () => void
}

export async function assembleEnsemble (init: AssembleInit, timeoutMs = 60_000): Promise<AssembledEnsemble> {
  const { manifest, coverage, storage } = init
  const checkpoints: Record<string, string> = {}
  const fetched = new Map<string, Checkpoint>()
  for (const task of manifest.tasks) {
    const info = coverage.find((row) => row.task === task.id)?.checkpoint
    if (info?.final !== true) throw new TaskDataMismatchError(`task ${task.id} has no final checkpoint yet`)
    const checkpoint = decodeCheckpoint(await storage.getBytes(CID.parse(info.cid), { timeoutMs, providers: [info.peer] }))
    if (!allFinite(checkpoint.tensors)) throw new CorruptCheckpointError(`checkpoint ${info.cid} of ${task.id} has NaN or Inf values`)
    if (checkpoint.metadata.run !== init.runId) throw new TaskDataMismatchError(`checkpoint ${info.cid} of ${task.id} belongs to run ${String(checkpoint.metadata.run)}`)
    checkpoints[task.id] = info.cid
    fetched.set(task.id, checkpoint)
  }
  const routerTask = manifest.tasks.find((t) => t.kind === 'router')!
  const router = loadRouter(fetched.get(routerTask.id)!)
  const experts: AssembledEnsemble['experts'] = []
  try {
    for (const task of manifest.tasks) {
      if (task.kind === 'expert') experts.push({ cluster: task.cluster, expert: loadExpert(fetched.get(task.id)!) })
    }
  } catch (err) {
    router.dispose()
    for (const e of experts) e.expert.dispose()
    throw err
  }
  const ensemble: EnsembleManifestInput = {
    v: 1,
    run: CID.parse(init.runId),
    k: manifest.k,
    router: CID.parse(checkpoints[routerTask.id]),
    experts: manifest.tasks.flatMap((t) => t.kind === 'expert' ? [{ cid: CID.parse(checkpoints[t.id]), cluster: t.cluster, objective: t.objective }] : [])
  }
  const ensembleId = await ensembleIdOf(ensemble)
  const prompts = new Set<string>()
  let tokenizer: Tokenizer | undefined
  for (const shard of manifest.resolved.shards) {
    const header = decodeShard(await storage.getBytes(shard.heldOut, { timeoutMs })).header
    header.prompts.forEach((p) => prompts.add(p))
    tokenizer ??= Tokenizer.fromJSON(header.tokenizer)
  }
  return {
    ensembleId,
    manifest: ensemble,
    checkpoints,
    prompts: [...prompts].sort(),
    tokenizer: tokenizer!,
    router,
    experts,
    dispose: () => {
      router.dispose()
      for (const e of experts) e.expert.dispose()
    }
  }
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
