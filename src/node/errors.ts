import { HddmError } from '../hddm-error.js'

/** A run CID that no reachable peer could supply within the resolve timeout. */
export class RunNotFoundError extends HddmError {
  static override name = 'RunNotFoundError'
  override name = 'RunNotFoundError'
}

/** The node was asked to do something its status does not allow (e.g. `run` before `start`). */
export class NodeNotStartedError extends HddmError {
  static override name = 'NodeNotStartedError'
  override name = 'NodeNotStartedError'
  constructor (message = 'the hddm node is not started') { super(message) }
}

/** A fetched shard or checkpoint does not belong to the task it was fetched for. */
export class TaskDataMismatchError extends HddmError {
  static override name = 'TaskDataMismatchError'
  override name = 'TaskDataMismatchError'
}

/** A task kind this node cannot train (yet): it leaves such tasks to peers that can. */
export class UnsupportedTaskError extends HddmError {
  static override name = 'UnsupportedTaskError'
  override name = 'UnsupportedTaskError'
}

/** A peer did not answer a coverage query with a coverage map of the run asked about. */
export class CoverageQueryError extends HddmError {
  static override name = 'CoverageQueryError'
  override name = 'CoverageQueryError'
}

/** The metrics endpoint could not listen on its address (in use, not this machine's, no permission). */
export class MetricsListenError extends HddmError {
  static override name = 'MetricsListenError'
  override name = 'MetricsListenError'
}

/** Why an announced checkpoint is not lease evidence (docs/PROTOCOL.md 5.8). */
export type EvidenceRefusal = 'unavailable' | 'wrong-content' | 'step' | 'non-finite' | 'above-bound' | 'not-learning'

/** An announced checkpoint that does not show its holder training (docs/PROTOCOL.md 5.8). */
export class EvidenceRefusedError extends HddmError {
  static override name = 'EvidenceRefusedError'
  override name = 'EvidenceRefusedError'
  constructor (readonly reason: EvidenceRefusal, message: string) { super(message) }
}
