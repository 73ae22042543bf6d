/**
 * Messages between the Trainer (main thread) and its worker. A job is one of three kinds: an
 * expert run, the router task, or the held-out loss of a checkpoint. Progress events cross as
 * plain {type, detail} objects (Events do not survive structured clone); errors cross as
 * {name, message} and are rebuilt as the same class on the main side, so `instanceof` holds.
 */
import { AbortError, DiskFullError, HddmError, InvalidArgumentError } from '../hddm-error.js'
import { CheckpointNotFoundError, CorruptCheckpointError, ShapeMismatchError } from '../checkpoint/errors.js'
import type { HeldOutEval } from '../checkpoint/expert-score.js'
import { InvalidDatasetError, InvalidShardError, InvalidTokenizerError } from '../data/errors.js'
import { BackendUnavailableError } from '../runtime/errors.js'
import type { BackendChoice, BackendInfo } from '../runtime/backend.js'
import { NonFiniteLossError, ResumeMismatchError, TrainerWorkerError } from './errors.js'
import type { ExpertJob, TrainResult } from './expert-run.js'
import type { RouterRunJob, RouterRunResult } from './router-run.js'

export interface WorkerSetup {
  backend: BackendChoice
  threads?: number
}

/** An expert checkpoint and the held-out shard to score it on, as bytes. */
export interface HeldOutJob {
  checkpoint: Uint8Array
  heldOut: Uint8Array
  evaluation: HeldOutEval
}

export type WorkerJob =
  | { kind: 'expert', job: ExpertJob }
  | { kind: 'router', job: RouterRunJob }
  | { kind: 'held-out', job: HeldOutJob }

/** What each kind of job resolves with. */
export interface WorkerResults {
  expert: TrainResult
  router: RouterRunResult
  'held-out': { loss: number }
}

export type ToWorker =
  | { type: 'run', job: WorkerJob }
  | { type: 'stop' }

export interface SerializedError {
  name: string
  message: string
  stack?: string
}

export type FromWorker =
  | { type: 'ready', backend: BackendInfo }
  | { type: 'progress', event: { type: string, detail: unknown } }
  | { type: 'done', result: WorkerResults[keyof WorkerResults] }
  | { type: 'error', error: SerializedError }

type ErrorClass = new (message: string) => HddmError

/** The typed errors a job can end with; anything else arrives as a TrainerWorkerError. */
const KNOWN_ERRORS: ErrorClass[] = [
  InvalidArgumentError, AbortError, DiskFullError, InvalidDatasetError, InvalidShardError, InvalidTokenizerError,
  BackendUnavailableError as unknown as ErrorClass, CorruptCheckpointError, ShapeMismatchError, CheckpointNotFoundError,
  NonFiniteLossError, ResumeMismatchError, TrainerWorkerError
]
const BY_NAME = new Map(KNOWN_ERRORS.map(c => [c.name, c]))

export function serializeError (err: unknown): SerializedError {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack }
  return { name: 'Error', message: String(err) }
}

export function deserializeError (e: SerializedError): HddmError {
  const Known = BY_NAME.get(e.name)
  if (Known !== undefined) {
    const err = Object.create(Known.prototype) as HddmError
    Object.assign(err, { message: e.message, name: e.name })
    const stack = `${e.name}: ${e.message}\n    (in the training worker)`
    Object.defineProperty(err, 'stack', { value: stack, configurable: true, writable: true })
    return err
  }
  return new TrainerWorkerError(`${e.name}: ${e.message}${e.stack !== undefined ? `\n${e.stack}` : ''}`)
}
