/**
 * Typed progress events, Helia style: every long call takes `{ signal, onProgress }` and
 * reports `hddm:<area>:<step>` events; callers narrow on `event.type`. We use the same
 * `progress-events` types as Helia so that options pass straight through to it.
 */
export type { ProgressEvent, ProgressOptions } from 'progress-events'
export { CustomProgressEvent } from 'progress-events'

export interface AbortOptions {
  signal?: AbortSignal
}
