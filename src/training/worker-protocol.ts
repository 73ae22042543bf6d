/**
 * Messages between the Trainer (main thread) and its worker. Progress events cross as plain
 * {type, detail} objects (Events do not survive structured clone); errors cross as
 * {name, message} and are rebuilt as the same typed class on the main side.
 */
import { AbortError, DiskFullError, HddmError, InvalidArgumentError } from '../hddm-error.js'
import { InvalidDatasetError, InvalidShardError, InvalidTokenizerError } from '../data/errors.js'
import { BackendUnavailableError } from '../runtime/errors.js'
import type { BackendChoice, BackendInfo } from '../runtime/backend.js'
import { CheckpointNotFoundError, CorruptCheckpointError, ShapeMismatchError } from '../checkpoint/errors.js'
import { NonFiniteLossError, ResumeMismatchError, TrainerWorkerError } from './errors.js'
import type { ExpertJob, TrainResult } from './expert-run.js'

export interface WorkerSetup {
  backend: BackendChoice
  threads?: number
}

export type ToWorker =
  | { type: 'train', job: ExpertJob }
  | { type: 'stop' }

export interface SerializedError {
  name: string
  message: string
  stack?: string
}

export type FromWorker =
  | { type: 'ready', backend: BackendInfo }
  | { type: 'progress', event: { type: string, detail: unknown } }
  | { type: 'done', result: TrainResult }
  | { type: 'error', error: SerializedError }

type ErrorClass = new (message: string) => HddmError

/** The typed errors a training job can end with; anything else arrives as a TrainerWorkerError. */
const KNOWN_ERRORS: ErrorClass[] = [
  InvalidArgumentError, AbortError, InvalidDatasetError, InvalidShardError, InvalidTokenizerError, BackendUnavailableError as unknown as ErrorClass,
  CorruptCheckpointError, ShapeMismatchError, CheckpointNotFoundError, NonFiniteLossError, ResumeMismatchError, TrainerWorkerError, DiskFullError
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
    Object.defineProperty(err, 'stack', { value: `${e.name}: ${e.message}\n    (in the training worker)`, configurable: true, writable: true })
    return err
  }
  return new TrainerWorkerError(`${e.name}: ${e.message}${e.stack !== undefined ? `\n${e.stack}` : ''}`)
}
