/**
 * Whether an announced checkpoint is lease evidence (docs/PROTOCOL.md 5.8): proof, checked by
 * this node alone, that its holder trains the task it holds. Every node checks the same public
 * checkpoint with the same draws, so honest nodes reach the same verdict.
 *
 * 1. its step is at least the next one the task's checkpoint schedule gives after the holder's
 *    previous evidence (`nextEvidenceStep`): an honest trainer announces no other, and a holder
 *    cannot stretch one checkpoint's worth of work over many windows;
 * 2. its content says what the announcement claims (checkAnnouncedCheckpoint: run, task, step,
 *    the preset's config, finite values);
 * 3. its held-out score, recomputed here on EVIDENCE_EXAMPLES held-out examples with draws fixed
 *    by the run and task (`evidenceSeed`), is finite, within the run's bound, and shows learning:
 *    not above the trivial predictor's on the same draws, or, while it is not there yet, below
 *    the holder's first evidence (not its previous one: an honest loss on 16 examples may stall
 *    or tick up between two checkpoints, but it does not climb back to where training began).
 *    Expert: its objective's loss (the final's `scoreExpert`), bound `eval.heldOutLossMax`,
 *    trivial predictor the per-pixel Gaussian. Router: its error (1 - mean accuracy over flow
 *    time, the final's `evaluateRouter`), trivial predictor and bound both "always the largest
 *    cluster".
 */
import { createHash } from 'node:crypto'
import { decodeShard, firstItems } from '../data/shard.js'
import { EVIDENCE_EXAMPLES } from '../protocol/limits.js'
import { budgetOf, type ResolvedRunManifest, type RunTask } from '../protocol/run-manifest.js'
import { scoreExpert } from '../checkpoint/expert-score.js'
import { meanAccuracy, scoreRouter } from '../checkpoint/router-score.js'
import { checkAnnouncedCheckpoint, contradictsAnnouncement } from './announced-checkpoint.js'
import { EvidenceRefusedError } from './errors.js'
import type { Evidence, EvidenceHistory } from '../network/evidence-log.js'
import type { Checkpoint } from '../checkpoint/format.js'

type ScoreRefusal = 'non-finite' | 'above-bound' | 'not-learning'

export interface EvidenceScore {
  /** The checkpoint's held-out score (lower is better). */
  score: number
  /** The trivial predictor's score on the same draws. */
  trivial: number
  /** The run's bound for this task. */
  bound: number
}

/** The least step a holder's next evidence may hold, after evidence at `previous` (none: 1). */
export function nextEvidenceStep (manifest: Pick<ResolvedRunManifest, 'training'>, task: RunTask,
  previous?: number): number {
  if (previous === undefined) return 1
  const { steps, checkpointEvery } = budgetOf(manifest, task)
  return Math.min(steps, (Math.floor(previous / checkpointEvery) + 1) * checkpointEvery)
}

/** Step 1 of the file comment: it needs no download, so it comes first. @throws EvidenceRefusedError */
export function checkEvidenceStep (manifest: Pick<ResolvedRunManifest, 'training'>, task: RunTask, step: number,
  previous?: number): void {
  const least = nextEvidenceStep(manifest, task, previous)
  if (step < least) {
    const after = `the next checkpoint after the holder's evidence at step ${String(previous)}`
    throw new EvidenceRefusedError('step', `step ${step} is below ${least}, ${after}`)
  }
}

/**
 * The seed of a task's evidence draws: fixed per run and task, so that every node scores a
 * checkpoint alike and a holder's successive checkpoints are compared on the same examples.
 * It is public; a holder could tune to it, which is why the final is judged on fresh draws.
 */
export function evidenceSeed (runId: string, task: string): number {
  // tfjs reads a seed of 0 as "unseeded": keep it in 1..2^31-1.
  return (createHash('sha256').update(`${runId}\u0000${task}\u0000evidence`).digest().readUInt32BE(0) >>> 1) || 1
}

/**
 * Checks the content of a fetched checkpoint and scores it.
 * @throws EvidenceRefusedError with the reason it is not evidence
 */
export async function checkEvidence (run: { runId: string, manifest: ResolvedRunManifest }, task: RunTask,
  announced: { cid: string, step: number, final: boolean }, bytes: Uint8Array, history: EvidenceHistory,
  heldOut: (cluster: number) => Promise<Uint8Array>): Promise<EvidenceScore> {
  checkEvidenceStep(run.manifest, task, announced.step, history.latest?.step)
  let score: EvidenceScore
  try {
    const checkpoint = checkAnnouncedCheckpoint(run, task, announced, bytes)
    score = await scoreCheckpoint(run.manifest, task, checkpoint, heldOut, evidenceSeed(run.runId, task.id))
  } catch (err) {
    // The file is not what was announced, or not a network of the run's preset.
    if (contradictsAnnouncement(err)) throw new EvidenceRefusedError('wrong-content', (err as Error).message)
    throw err
  }
  const refusal = judgeEvidence(score, history.first)
  if (refusal !== undefined) throw new EvidenceRefusedError(refusal, describe(refusal, score, history.first))
  return score
}

/** The rule of step 3 (file comment), given the holder's first evidence; undefined: it is evidence. */
export function judgeEvidence (score: EvidenceScore, first?: Pick<Evidence, 'score'>): ScoreRefusal | undefined {
  if (!Number.isFinite(score.score)) return 'non-finite'
  if (!(score.score <= score.bound)) return 'above-bound'
  const learning = score.score <= score.trivial || first === undefined || score.score < first.score
  return learning ? undefined : 'not-learning'
}

async function scoreCheckpoint (manifest: ResolvedRunManifest, task: RunTask, checkpoint: Checkpoint,
  heldOut: (cluster: number) => Promise<Uint8Array>, seed: number): Promise<EvidenceScore> {
  if (task.kind === 'expert') {
    const draws = { batches: 1, batchSize: EVIDENCE_EXAMPLES, seed }
    const s = await scoreExpert(checkpoint, await heldOut(task.cluster), draws)
    // Guidance samples from the null-prompt branch too: it must at least be a number.
    const score = Number.isFinite(s.unconditional) ? s.prompted : NaN
    return { score, trivial: s.baseline, bound: manifest.eval.heldOutLossMax[task.objective] }
  }
  const shards = await Promise.all(manifest.resolved.shards.map(async (s) => {
    return firstItems(decodeShard(await heldOut(s.cluster)), EVIDENCE_EXAMPLES)
  }))
  const evaluation = await scoreRouter(checkpoint, shards, { seed })
  const error = 1 - meanAccuracy(evaluation.buckets)
  return { score: error, trivial: 1 - evaluation.majority, bound: 1 - evaluation.majority }
}

function describe (refusal: ScoreRefusal, s: EvidenceScore, first?: Pick<Evidence, 'score'>): string {
  if (refusal === 'non-finite') return 'its recomputed held-out score is not a number'
  if (refusal === 'above-bound') {
    return `recomputed held-out score ${s.score.toFixed(4)} is above the run's bound ${s.bound.toFixed(4)}`
  }
  return `recomputed held-out score ${s.score.toFixed(4)} is above the trivial predictor's ${s.trivial.toFixed(4)} ` +
    `and not below the holder's first evidence, ${String(first?.score.toFixed(4))}`
}
