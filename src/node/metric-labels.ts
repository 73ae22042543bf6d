/**
 * The label values of hddm's metrics (node-metrics.ts). Every one comes from a bounded set
 * written here, never from a peer id, a CID or message text: a label value is a time series
 * for as long as Prometheus keeps it, so a hostile peer must not be able to mint them. A value
 * outside its set (a code added to the protocol and not here) is counted as `other`; the
 * `Record<Union, true>` tables make the compiler ask for each new code.
 */
import type { RefusalReason } from '../ensemble/errors.js'
import { SAMPLE_ERROR_CODES } from '../protocol/sample-messages.js'
import type { ValidationCode } from '../protocol/validate.js'
import type { EvidenceRefusal } from './errors.js'
import type { TaskPhase } from './task-loop.js'

export const OTHER = 'other'

type BoundedSet<T extends string> = Readonly<Record<T, true>>

/** Gossip validation codes: the validators' (src/protocol/validators/result.ts) and gossip.ts's own two. */
const GOSSIP_CODES: BoundedSet<ValidationCode | 'unsigned' | 'validator-error'> = {
  'too-large': true,
  malformed: true,
  'non-canonical': true,
  schema: true,
  forged: true,
  'wrong-run': true,
  'unknown-task': true,
  'bad-lease': true,
  'bad-cid': true,
  future: true,
  stale: true,
  'lease-expired': true,
  duplicate: true,
  unsigned: true,
  'validator-error': true
}

/** Why a final checkpoint was refused: verification's reasons (ensemble/errors.ts) and final-verifier.ts's. */
const FINAL_REASONS: BoundedSet<RefusalReason | 'not-holder' | 'wrong-step'> = {
  'fetch-timeout': true,
  corrupt: true,
  'wrong-run': true,
  'wrong-task': true,
  'wrong-shape': true,
  'non-finite': true,
  'held-out-loss': true,
  'held-out-overfit': true,
  'not-holder': true,
  'wrong-step': true
}

/** Why an announced checkpoint is not lease evidence (node/errors.ts). */
const EVIDENCE_REASONS: BoundedSet<EvidenceRefusal> = {
  unavailable: true,
  'wrong-content': true,
  step: true,
  'non-finite': true,
  'above-bound': true,
  'not-learning': true
}

export const TASK_PHASES: readonly TaskPhase[] = Object.keys({
  claiming: true,
  'lost-claim': true,
  fetching: true,
  training: true,
  done: true,
  'lost-lease': true,
  stopped: true,
  failed: true
} satisfies BoundedSet<TaskPhase>) as TaskPhase[]

/** States of a run's tasks as this node sees them (`hddm_tasks`). */
export const TASK_STATES = ['free', 'held', 'training', 'done'] as const

export const SAMPLE_CODES: readonly string[] = SAMPLE_ERROR_CODES

function bounded (value: string | undefined, set: Readonly<Record<string, true>>): string {
  return value !== undefined && Object.hasOwn(set, value) ? value : OTHER
}

/** `accept`, or `reject:forged` (gossip.ts's counter keys), as `{ result, code }` labels. */
export function gossipLabels (key: string): { result: string, code?: string } {
  const [action, code] = key.split(':', 2)
  if (action === 'accept' && code === undefined) return { result: 'accept' }
  if (action === 'reject' || action === 'ignore') return { result: action, code: bounded(code, GOSSIP_CODES) }
  return { result: OTHER }
}

export function finalRefusalLabel (reason: string | undefined): string {
  return bounded(reason, FINAL_REASONS)
}

export function evidenceRefusalLabel (reason: string | undefined): string {
  return bounded(reason, EVIDENCE_REASONS)
}

/** `served`, or the refusal code of a sample request, as `{ result, code }` labels. */
export function sampleLabels (outcome: string): { result: string, code?: string } {
  if (outcome === 'served') return { result: 'served' }
  return { result: 'refused', code: SAMPLE_CODES.includes(outcome) ? outcome : OTHER }
}
