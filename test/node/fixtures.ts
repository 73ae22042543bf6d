import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readManifestFile } from '../../src/node/run-creation.js'
import { parseRunManifest, type RunManifest, type RunManifestInput } from '../../src/protocol/run-manifest.js'

export interface TinyRunOptions {
  name?: string
  steps?: number
  checkpointEvery?: number
  leaseMs?: number
  images?: number
  /** Steps of the tasks that set their own (the default run's DDPM expert): default the expert budget's. */
  taskSteps?: number
  /** Router steps: default the expert budget's. Fewer make nodes take the experts first (most steps left). */
  routerSteps?: number
}

/**
 * The default run cut down for tests: a few hundred images, the tiny presets, a short budget, a
 * short lease and a cheap held-out evaluation. `name` makes distinct runs (distinct run ids)
 * from the same data.
 */
export async function tinyRun (options: TinyRunOptions = {}): Promise<RunManifest> {
  const { manifest } = await readManifestFile('manifests/default.json')
  const budget = {
    ...manifest.training.expert,
    steps: options.steps ?? 12, batchSize: 16, warmupSteps: 2, checkpointEvery: options.checkpointEvery ?? 4
  }
  const taskSteps = options.taskSteps ?? budget.steps
  const routerBudget = {
    ...manifest.training.router,
    steps: options.routerSteps ?? budget.steps, batchSize: 16, checkpointEvery: budget.checkpointEvery
  }
  const input: RunManifestInput = {
    ...manifest,
    tasks: manifest.tasks.map((t) => t.kind === 'expert' && t.steps !== undefined ? { ...t, steps: taskSteps } : t),
    name: options.name ?? 'node-test',
    dataset: { kind: 'mnist', heldOutFraction: 0.05, limit: options.images ?? 600 },
    clustering: { ...manifest.clustering, fineCentroids: 16 },
    model: { expert: 'tiny', router: 'router-tiny' },
    training: { expert: budget, router: routerBudget },
    leaseMs: options.leaseMs ?? 5000,
    // Tests train for a dozen steps, which no trivial-predictor bound would let through, and judge
    // on one batch of 16, where an honest expert's held-out/train ratio swings past the overfit
    // bound (0.894 in one chaos run): the checks themselves are tested with the run's own
    // settings (test/ensemble/verify.test.ts).
    eval: {
      ...manifest.eval, heldOutBatches: 1, batchSize: 16, baselineFraction: 10, routerMinGain: -1, overfitRatio: 0
    }
  }
  return parseRunManifest(input)
}

/** Writes a manifest to a temp file, for the CLI. */
export async function writeManifest (manifest: RunManifest): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hddm-manifest-'))
  const path = join(dir, `${manifest.name}.json`)
  await writeFile(path, JSON.stringify(manifest, null, 2))
  return path
}

/** Short protocol timings so that tests claim, settle and renew in about a second. */
export const FAST_LOOP = { settleMs: 600, beaconMs: 1000, syncMs: 300 }
