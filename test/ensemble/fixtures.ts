/**
 * A heterogeneous run small enough to train in seconds: K=2 MNIST clusters, a DDPM expert on
 * cluster 0, a flow-matching expert on cluster 1 and a router, created in real Helia storage;
 * checkpoints are trained in-process for a handful of steps with the training loop itself.
 */
import { createRun } from '../../src/node/run-creation.js'
import { parseRunManifest, type ResolvedRunManifest } from '../../src/protocol/run-manifest.js'
import { encodeCheckpoint } from '../../src/checkpoint/format.js'
import { routerCheckpoint, trainRouter } from '../../src/training/router-trainer.js'
import { tinyRun, type TinyRunOptions } from '../node/fixtures.js'
import { trainTinyExpert } from '../checkpoint/fixtures.js'
import type { Storage } from '../../src/storage/helia.js'

export interface EnsembleRun {
  runId: string
  manifest: ResolvedRunManifest
}

export async function createEnsembleRun (
  storage: Storage, name = 'ensemble-test', options: TinyRunOptions = {}
): Promise<EnsembleRun> {
  const base = await tinyRun({ name, images: 300, ...options })
  const manifest = parseRunManifest({
    ...base,
    k: 2,
    tasks: [
      { id: 'expert-0', kind: 'expert', cluster: 0, objective: 'ddpm' },
      { id: 'expert-1', kind: 'expert', cluster: 1, objective: 'fm' },
      { id: 'router', kind: 'router' }
    ]
  })
  const created = await createRun(manifest, storage)
  return { runId: created.runId.toString(), manifest: created.manifest }
}

/** A publishable expert checkpoint of the run's task trained for `steps` steps (30 pass the default bounds). */
export async function trainedExpert (
  run: EnsembleRun, storage: Storage, task: string, steps: number, seed = 3
): Promise<Uint8Array> {
  const t = run.manifest.tasks.find((x) => x.id === task)
  if (t?.kind !== 'expert') throw new Error(`${task} is not an expert task`)
  const shard = await storage.getBytes(run.manifest.resolved.shards[t.cluster].train)
  const preset = run.manifest.model.expert
  return await trainTinyExpert({ shard, preset, objective: t.objective, steps, seed, run: run.runId })
}

/** A router checkpoint for the run, reading the prompt as its router task says unless `conditioning` is given. */
export async function trainedRouter (
  run: EnsembleRun, storage: Storage, steps = 20, conditioning?: 'prompt' | 'none'
): Promise<Uint8Array> {
  const shards = await Promise.all(run.manifest.resolved.shards.map(async (s) => await storage.getBytes(s.train)))
  const task = run.manifest.tasks.find((t) => t.kind === 'router')
  conditioning ??= task?.kind === 'router' ? task.conditioning : 'none'
  const training = { steps, batchSize: 16, learningRate: 2e-3, warmupSteps: 2, seed: 3 }
  const result = await trainRouter({ shards, preset: run.manifest.model.router, conditioning, training })
  try {
    return encodeCheckpoint(routerCheckpoint(result, run.manifest.model.router, { run: run.runId }))
  } finally {
    result.router.dispose()
  }
}
