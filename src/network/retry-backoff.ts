/**
 * When to try again, per key, for repairs a timer retries (identify-retry.ts, gossip-streams.ts):
 * the first attempt at a time the caller picks, then after the timer's interval, and twice as
 * long each time up to a ceiling, so a peer that never lets the repair succeed costs one attempt
 * per ceiling.
 */
export class RetryBackoff<K> {
  private readonly entries = new Map<K, { since: number, nextAttempt: number, delayMs: number }>()

  constructor (private readonly minMs: number, private readonly maxMs: number) {}

  /**
   * Whether `key` is due at `now`; a key seen for the first time is due from `firstAttempt`. A due
   * key's next attempt moves one step later, so call this only when about to try.
   */
  due (key: K, now: number, firstAttempt = now): boolean {
    const entry = this.entries.get(key) ?? { since: now, nextAttempt: firstAttempt, delayMs: 0 }
    this.entries.set(key, entry)
    if (now < entry.nextAttempt) return false
    entry.delayMs = Math.min(Math.max(entry.delayMs * 2, this.minMs), this.maxMs)
    entry.nextAttempt = now + entry.delayMs
    return true
  }

  /** When `key` was first seen needing the repair (undefined if it is not waiting). */
  since (key: K): number | undefined {
    return this.entries.get(key)?.since
  }

  /** The repair is no longer needed (it worked, or the connection is gone). */
  delete (key: K): void {
    this.entries.delete(key)
  }

  keys (): IterableIterator<K> {
    return this.entries.keys()
  }

  clear (): void {
    this.entries.clear()
  }
}
