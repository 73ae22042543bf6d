/**
 * From a finished run to a model: verify every final checkpoint announced for every task
 * (replicas included; src/ensemble/verify.ts), keep the best acceptable one per task, name the
 * ensemble (router + experts) by its manifest CID, and load it to sample a grid of every
 * prompt of the run. A refused checkpoint costs only itself; assembly fails with
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
import { sampleEnsemble } from '../ensemble/sample.js'
import { ensembleFromVerification, verifyCheckpoints, type Verification, type VerifyCheckpointsOptions } from '../ensemble/verify.js'
import type { EnsembleManifestInput } from '../protocol/ensemble-manifest.js'
import { maxShardBytes } from '../protocol/fetch-limits.js'
import type { TaskCoverage } from '../network/claims.js'
import type { ResolvedRunManifest } from '../protocol/run-manifest.js'
import type { Storage } from '../storage/helia.js'

export interface AssembleInit {
  runId: string
  manifest: ResolvedRunManifest
  /** A coverage map (merged from peers' if need be): its final checkpoints are the candidates. */
  coverage: TaskCoverage[]
  storage: Pick<Storage, 'getBytes' | 'putJson'>
}

export interface AssembledEnsemble {
  ensembleId: CID
  manifest: EnsembleManifestInput
  /** Chosen checkpoint CID per task id. */
  checkpoints: Record<string, string>
  /** Every candidate's verdict (accepted or refused, with the reason). */
  verification: Verification
  /** Every distinct prompt of the run, sorted. */
  prompts: string[]
  tokenizer: Tokenizer
  router: LoadedRouter
  experts: Array<{ cluster: number, expert: LoadedExpert }>
  dispose: () => void
}

export async function assembleEnsemble (init: AssembleInit, timeoutMs = 60_000, options: VerifyCheckpointsOptions = {}): Promise<AssembledEnsemble> {
  const { manifest, storage } = init
  const verification = await verifyCheckpoints({ runId: init.runId, manifest, storage, timeoutMs }, candidatesFromCoverage([init.coverage]), options)
  const { id: ensembleId, manifest: ensemble } = await ensembleFromVerification(init.runId, manifest, verification)
  const checkpoints = Object.fromEntries([...verification.chosen].map(([task, v]) => [task, v.cid.toString()]))
  const prompts = new Set<string>()
  let tokenizer: Tokenizer | undefined
  for (const shard of manifest.resolved.shards) {
    const header = decodeShard(await storage.getBytes(shard.heldOut, { timeoutMs, maxBytes: maxShardBytes(manifest, shard.cluster, 'heldOut') })).header
    header.prompts.forEach((p) => prompts.add(p))
    tokenizer ??= Tokenizer.fromJSON(header.tokenizer)
  }
  const routerTask = manifest.tasks.find((t) => t.kind === 'router')!
  const router = loadRouter(verification.chosen.get(routerTask.id)!.checkpoint)
  const experts: AssembledEnsemble['experts'] = []
  try {
    for (const task of manifest.tasks) {
      if (task.kind === 'expert') experts.push({ cluster: task.cluster, expert: loadExpert(verification.chosen.get(task.id)!.checkpoint) })
    }
  } catch (err) {
    router.dispose()
    for (const e of experts) e.expert.dispose()
    throw err
  }
  return {
    ensembleId,
    manifest: ensemble,
    checkpoints,
    verification,
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
