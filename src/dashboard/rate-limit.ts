/**
 * A token bucket: `capacity` actions at once, refilled at `refillPerMinute`. The dashboard's
 * actions (drawing samples) cost CPU on a machine that trains, so they are limited for every
 * client together: a limit per client would let many tabs, or a script, multiply it.
 */
export interface TokenBucketInit {
  /** Actions allowed in a burst. @default 4 */
  capacity?: number
  /** Tokens added per minute. @default 4 */
  refillPerMinute?: number
  /** Milliseconds clock. @default Date.now */
  clock?: () => number
}

export type TakeResult = { ok: true } | { ok: false, retryAfterMs: number }

export class TokenBucket {
  readonly capacity: number
  private readonly perMs: number
  private readonly clock: () => number
  private tokens: number
  private at: number

  constructor (init: TokenBucketInit = {}) {
    this.capacity = init.capacity ?? 4
    this.perMs = (init.refillPerMinute ?? 4) / 60_000
    this.clock = init.clock ?? Date.now
    this.tokens = this.capacity
    this.at = this.clock()
  }

  /** Takes one token if there is one; otherwise says when the next one comes. */
  take (): TakeResult {
    this.refill()
    if (this.tokens >= 1) {
      this.tokens -= 1
      return { ok: true }
    }
    const retryAfterMs = this.perMs > 0 ? Math.ceil((1 - this.tokens) / this.perMs) : Infinity
    return { ok: false, retryAfterMs }
  }

  private refill (): void {
    const now = this.clock()
    this.tokens = Math.min(this.capacity, this.tokens + Math.max(0, now - this.at) * this.perMs)
    this.at = now
  }
}
