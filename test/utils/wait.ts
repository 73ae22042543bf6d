/**
 * The one way tests wait for state: poll a probe until it returns a value, within a budget, and
 * on timeout say why. Multi-node tests fail on CI, where nobody watches the nodes live, so the
 * error carries what `explain` reports (the nodes' log tails, their claim tables) at that moment.
 */
import { setTimeout as sleep } from 'node:timers/promises'

export interface WaitOptions {
  /** How long to wait in all. @default 60_000 */
  timeoutMs?: number
  /** Time between probes. @default 100 */
  intervalMs?: number
  /** What the test knows at the timeout that says why it happened; appended to the error. */
  explain?: () => string | Promise<string>
}

/** A wait ran out of budget; `message` names what did not happen and, with `explain`, why. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError'
}

/** What a probe returns once it has a value. */
export type Probed<T> = Exclude<T, undefined | null | false>

/**
 * Polls `probe` until it returns something other than undefined, null or false, and returns
 * that. The probe may be async; one that throws fails the wait at once (a broken probe is a
 * bug in the test, not something to wait out).
 *
 * @example
 * ```ts
 * const started = await waitFor(() => p.events.find((e) => e.event === 'started'), 'the node to start',
 *   { timeoutMs: 30_000, explain: () => p.stderr() })
 * ```
 */
export async function waitFor<T> (probe: () => T | Promise<T>, what: string,
  options: WaitOptions | number = {}): Promise<Probed<T>> {
  const { timeoutMs = 60_000, intervalMs = 100, explain } = optionsOf(options)
  const started = Date.now()
  while (true) {
    const value = await probe()
    if (value !== undefined && value !== null && value !== false) return value as Probed<T>
    const waited = Date.now() - started
    if (waited >= timeoutMs) {
      const why = explain === undefined ? '' : `\n${await explainSafely(explain)}`
      throw new WaitTimeoutError(`timed out after ${Math.round(waited / 1000)} s waiting for ${what}${why}`)
    }
    await sleep(Math.min(intervalMs, Math.max(1, timeoutMs - waited)))
  }
}

/**
 * `waitFor` with defaults, for a file whose waits all explain themselves the same way. A number
 * as the last argument overrides the budget alone.
 */
export function waitForWith (defaults: WaitOptions): typeof waitFor {
  return async (probe, what, options = {}) => await waitFor(probe, what, { ...defaults, ...optionsOf(options) })
}

function optionsOf (options: WaitOptions | number): WaitOptions {
  return typeof options === 'number' ? { timeoutMs: options } : options
}

async function explainSafely (explain: () => string | Promise<string>): Promise<string> {
  try {
    return await explain()
  } catch (err) {
    // The timeout is the failure to report; a diagnosis that itself fails must not hide it.
    return `(explain failed: ${String(err)})`
  }
}
