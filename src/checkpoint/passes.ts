/**
 * Scoring split into forward passes: a generator that yields after each. Run in a worker or a
 * trainer it goes straight through; on a node's main thread it gives the event loop a turn after
 * every pass, so gossip, pings and streams go on while a verifier scores.
 */
import { throwIfAborted } from '../hddm-error.js'
import type { AbortOptions } from '../progress.js'

/** Runs every pass at once and returns the result. */
export function runPasses<T> (passes: Generator<void, T>): T {
  for (;;) {
    const step = passes.next()
    if (step.done === true) return step.value
  }
}

/**
 * Runs the passes with an event-loop turn after each; stops there when `signal` fires
 * (AbortError), ending the generator so that its cleanup (`finally`) runs.
 */
export async function runPassesYielding<T> (passes: Generator<void, T>, options: AbortOptions = {}): Promise<T> {
  try {
    for (;;) {
      throwIfAborted(options.signal)
      const step = passes.next()
      if (step.done === true) return step.value
      await new Promise((resolve) => setImmediate(resolve))
    }
  } finally {
    passes.return(undefined as never)
  }
}
