/**
 * Stopping a service that is made of parts: every part is stopped even if an earlier one fails
 * (a full disk can fail libp2p's last peer-store write, and the lock and files must still be
 * released), and failures are logged, not thrown: a caller that is shutting down cannot act on
 * them, and a throwing stop() would leave the rest of its own teardown undone.
 */
import type { Logger } from './logger.js'

export type StopStep = readonly [name: string, stop: () => Promise<void> | void]

export async function stopInOrder (steps: readonly StopStep[], log: Logger): Promise<void> {
  for (const [name, stop] of steps) {
    try {
      await stop()
    } catch (err) {
      log.warn('stop step failed', { step: name }, err)
    }
  }
}
