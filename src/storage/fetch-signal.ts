import { setMaxListeners } from 'node:events'
import { AbortError } from '../hddm-error.js'
import { FetchTimeoutError } from './errors.js'

/** Fetches without a caller deadline still end: a CID nobody holds would otherwise hang forever. */
export const DEFAULT_FETCH_TIMEOUT_MS = 120_000

export interface FetchDeadline {
  signal: AbortSignal
  /** Maps a failure caused by our deadline or the caller's signal to FetchTimeoutError / AbortError. */
  translate: (err: unknown) => unknown
}

export function fetchDeadline (
  what: string, signal?: AbortSignal, timeoutMs = DEFAULT_FETCH_TIMEOUT_MS
): FetchDeadline {
  const timeout = AbortSignal.timeout(timeoutMs)
  const combined = signal == null ? timeout : AbortSignal.any([signal, timeout])
  // One listener per block in flight: a long DAG exceeds the default of 10 and warns.
  setMaxListeners(Infinity, combined)
  return {
    signal: combined,
    translate: (err) => {
      if (signal?.aborted === true) return new AbortError()
      if (timeout.aborted) return new FetchTimeoutError(`${what} did not resolve within ${timeoutMs} ms`)
      return err
    }
  }
}
