/**
 * The manifest `hddm-node simulate` runs: the file's, with the command's overrides of the expert
 * preset and the training budget (checkpoints, warm-up and each task's own steps scaled with it).
 */
import { InvalidArgumentError } from '../errors.js'
import { EXPERT_PRESETS } from '../model/config.js'
import { parseRunManifest, type RunManifest } from '../protocol/run-manifest.js'

export interface ManifestOverrides {
  /** Training steps per expert task. */
  budget?: number
  /** Expert preset name. */
  preset?: string
}

export function withOverrides (manifest: RunManifest, o: ManifestOverrides): RunManifest {
  if (o.preset !== undefined && !Object.hasOwn(EXPERT_PRESETS, o.preset)) {
    throw new InvalidArgumentError(`--preset must be one of ${Object.keys(EXPERT_PRESETS).join(', ')}`)
  }
  const steps = o.budget
  const scale = (b: RunManifest['training']['expert']): RunManifest['training']['expert'] => {
    if (steps === undefined) return b
    const checkpointEvery = Math.max(1, Math.min(b.checkpointEvery, Math.ceil(steps / 4)))
    return { ...b, steps, checkpointEvery, warmupSteps: Math.min(b.warmupSteps, Math.floor(steps / 10)) }
  }
  // A task's own steps keep their ratio to the expert budget (a DDPM expert's longer budget).
  const tasks = steps === undefined
    ? manifest.tasks
    : manifest.tasks.map((t) => t.kind === 'expert' && t.steps !== undefined
      ? { ...t, steps: Math.max(1, Math.round(t.steps * steps / manifest.training.expert.steps)) }
      : t)
  return parseRunManifest({
    ...manifest,
    tasks,
    model: { ...manifest.model, expert: o.preset ?? manifest.model.expert },
    training: { expert: scale(manifest.training.expert), router: scale(manifest.training.router) }
  })
}
