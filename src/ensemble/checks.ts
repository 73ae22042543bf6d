/**
 * The checks a fetched checkpoint must pass before it may enter an ensemble (docs/PROTOCOL.md
 * section 7.1), each failing with a CheckpointRefusedError that names its reason. Nothing here
 * trusts what a peer announced: the held-out loss is recomputed from the checkpoint with the
 * run's fixed eval seed on the task's held-out shard, so every peer gets the same number.
 */
import { decodeShard } from '../data/shard.js'
import { Tokenizer } from '../data/tokenizer.js'
import { pixelMoments, scoreExpert } from '../checkpoint/expert-score.js'
import { allFinite, decodeCheckpoint, type Checkpoint } from '../checkpoint/format.js'
import { CorruptCheckpointError, ShapeMismatchError } from '../checkpoint/errors.js'
import { expertConfig } from '../checkpoint/expert.js'
import { routerConfig, loadRouter } from '../checkpoint/router.js'
import { meanAccuracy, scoreRouter } from '../checkpoint/router-score.js'
import { CheckpointRefusedError } from './errors.js'
import type { ResolvedRunManifest, RunTask } from '../protocol/run-manifest.js'
import type { RunShards } from './run-shards.js'
import type { AbortOptions } from '../progress.js'

export function decodeCandidate (bytes: Uint8Array): Checkpoint {
  try {
    return decodeCheckpoint(bytes)
  } catch (err) {
    throw new CheckpointRefusedError('corrupt', `not a checkpoint: ${(err as Error).message}`)
  }
}

/**
 * The task a checkpoint stands for: the one it was offered for, which its metadata must match,
 * or for a checkpoint given by hand (no task) the run's task its metadata names.
 */
export function taskOf (manifest: ResolvedRunManifest, checkpoint: Checkpoint, offeredFor?: string): RunTask {
  const m = checkpoint.metadata
  const matches = (t: RunTask): boolean => {
    if (t.kind !== m.network) return false
    return t.kind === 'router' || (t.objective === m.objective && t.cluster === m.cluster)
  }
  const describe = m.network === 'router'
    ? 'a router'
    : `a ${String(m.objective)} expert of cluster ${String(m.cluster)}`
  if (offeredFor === undefined) {
    const task = manifest.tasks.find(matches)
    if (task === undefined) throw new CheckpointRefusedError('wrong-task', `${describe} matches no task of the run`)
    return task
  }
  const task = manifest.tasks.find((t) => t.id === offeredFor)
  if (task === undefined) throw new CheckpointRefusedError('wrong-task', `the run has no task ${offeredFor}`)
  if (!matches(task)) throw new CheckpointRefusedError('wrong-task', `offered for ${task.id} but it is ${describe}`)
  return task
}

export function checkRun (checkpoint: Checkpoint, runId: string): void {
  if (checkpoint.metadata.run !== runId) {
    throw new CheckpointRefusedError('wrong-run', `trained in run ${String(checkpoint.metadata.run)}, not ${runId}`)
  }
}

/**
 * The config the run's preset gives (experts and prompt routers: sized to the run's tokenizer,
 * which the checkpoint carries and which must be the run's); the tensors' shapes are checked
 * when the network is loaded for evaluation.
 */
export function checkShape (manifest: ResolvedRunManifest, task: RunTask, checkpoint: Checkpoint): void {
  const m = checkpoint.metadata
  const tokenizer = (): Tokenizer => {
    let t: Tokenizer
    try {
      t = Tokenizer.fromJSON(m.extra?.tokenizer)
    } catch {
      throw new CheckpointRefusedError('corrupt', `${task.kind} checkpoint has no valid tokenizer`)
    }
    if (t.digest !== manifest.resolved.tokenizerDigest) {
      throw new CheckpointRefusedError('wrong-shape', 'its tokenizer is not the run\'s')
    }
    return t
  }
  if (task.kind === 'router' && (m.config.conditioning ?? 'none') !== task.conditioning) {
    const reads = (c: unknown): string => c === 'prompt' ? 'reads the prompt' : 'reads no prompt'
    const theirs = `this router ${reads(m.config.conditioning)}`
    throw new CheckpointRefusedError('wrong-shape', `${theirs}; the run's router ${reads(task.conditioning)}`)
  }
  let expected: Record<string, unknown>
  if (task.kind === 'router') {
    const promptTokenizer = task.conditioning === 'prompt' ? tokenizer() : undefined
    expected = { ...routerConfig(manifest.model.router, manifest.k, task.conditioning, promptTokenizer) }
  } else {
    expected = { ...expertConfig(manifest.model.expert, tokenizer()) }
  }
  const preset = task.kind === 'router' ? manifest.model.router : manifest.model.expert
  const keys = new Set([...Object.keys(expected), ...Object.keys(m.config)])
  const differing = [...keys].filter((k) => m.config[k] !== expected[k])
  if (differing.length > 0) {
    const difference = (k: string): string => `${k} (${String(m.config[k])}, expected ${String(expected[k])})`
    const differences = differing.map(difference).join(', ')
    throw new CheckpointRefusedError('wrong-shape', `its config differs from preset ${preset} in ${differences}`)
  }
}

export function checkFinite (checkpoint: Checkpoint): void {
  if (!allFinite(checkpoint.tensors)) throw new CheckpointRefusedError('non-finite', 'it has NaN or Inf values')
}

/**
 * The recomputed held-out score of a candidate (docs/PROTOCOL.md section 7.1), with every
 * random draw from `seed`, which the verifier picks: nothing a trainer could tune to.
 *
 * Expert: the objective's loss on its own cluster's held-out shard. Refused (`held-out-loss`)
 * above the run's absolute bound for its objective, or, with the prompt or with the null prompt
 * that guidance also samples from, not below `baselineFraction` of the per-pixel Gaussian
 * predictor's loss on the same draws (its moments from the train shard); refused
 * (`held-out-overfit`) when it is below `overfitRatio` of its own loss on the train shard.
 * Router: 1 - mean held-out accuracy over flow-time buckets on every cluster's held-out shard,
 * refused when that accuracy does not beat the majority baseline by `routerMinGain` (a prompt
 * router's null-prompt branch by half that).
 */
export async function recomputeHeldOutLoss (
  manifest: ResolvedRunManifest, task: RunTask, checkpoint: Checkpoint, shards: RunShards, seed: number,
  options: AbortOptions = {}
): Promise<number> {
  const { eval: e } = manifest
  try {
    if (task.kind === 'router') {
      const clusters = manifest.resolved.shards.map((s) => s.cluster)
      const heldOut = await Promise.all(clusters.map(async (c) => decodeShard(await shards.heldOut(c))))
      const evaluation = await scoreRouter(checkpoint, heldOut, { seed }, options)
      const accuracy = meanAccuracy(evaluation.buckets)
      if (!(accuracy > evaluation.majority + e.routerMinGain)) {
        const baseline = `the majority baseline ${evaluation.majority.toFixed(3)} by ${e.routerMinGain}`
        const message = `held-out accuracy ${accuracy.toFixed(3)} does not beat ${baseline}`
        throw new CheckpointRefusedError('held-out-loss', message)
      }
      // The null-prompt branch (p(k | x_t, t), for unconditional samples) is trained on a tenth of
      // the batches and knows no prompt: half the margin.
      const unconditional = evaluation.unconditional === undefined ? undefined : meanAccuracy(evaluation.unconditional)
      if (unconditional !== undefined && !(unconditional > evaluation.majority + e.routerMinGain / 2)) {
        const baseline = `the majority baseline ${evaluation.majority.toFixed(3)} by ${e.routerMinGain / 2}`
        const found = `with the null prompt its held-out accuracy ${unconditional.toFixed(3)}`
        throw new CheckpointRefusedError('held-out-loss', `${found} does not beat ${baseline}`)
      }
      return 1 - accuracy
    }
    // The trivial predictor knows what the expert was trained on, not the held-out images.
    const trainShard = await shards.train(task.cluster)
    const moments = pixelMoments(decodeShard(trainShard))
    const settings = { batches: e.heldOutBatches, batchSize: e.batchSize, seed, moments }
    const score = await scoreExpert(checkpoint, await shards.heldOut(task.cluster), settings, options)
    const bound = e.heldOutLossMax[task.objective]
    const limit = e.baselineFraction * score.baseline
    const branches = [['with the prompt', score.prompted], ['with the null prompt', score.unconditional]] as const
    for (const [branch, loss] of branches) {
      const recomputed = `recomputed held-out loss ${loss.toFixed(4)} ${branch}`
      if (!(loss <= bound)) {
        const above = `is above the run's bound ${bound} for ${task.objective}`
        throw new CheckpointRefusedError('held-out-loss', `${recomputed} ${above}`)
      }
      if (!(loss < limit)) {
        const gaussian = `${e.baselineFraction} x ${score.baseline.toFixed(4)}, the per-pixel Gaussian predictor's`
        throw new CheckpointRefusedError('held-out-loss', `${recomputed} is not below ${gaussian}`)
      }
    }
    const train = (await scoreExpert(checkpoint, trainShard, settings, options)).prompted
    if (score.prompted < e.overfitRatio * train) {
      const trainLoss = `${e.overfitRatio} x its train-shard loss ${train.toFixed(4)}`
      const message = `held-out loss ${score.prompted.toFixed(4)} is below ${trainLoss}: trained on the held-out data`
      throw new CheckpointRefusedError('held-out-overfit', message)
    }
    return score.prompted
  } catch (err) {
    if (err instanceof ShapeMismatchError) throw new CheckpointRefusedError('wrong-shape', err.message)
    if (err instanceof CorruptCheckpointError) throw new CheckpointRefusedError('corrupt', err.message)
    throw err
  }
}
