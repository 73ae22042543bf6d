import { SEEN_CACHE_SIZE } from './limits.js'

/**
 * A bounded set of recently seen message keys, each remembered until it expires. Expiry is the
 * moment a replay would be ignored as stale anyway, so forgetting then is safe; when full, the
 * oldest insertion goes first (a replay that slips through is harmless: applying a message to
 * the claim table twice changes nothing).
 */
export class SeenCache {
  private readonly entries = new Map<string, number>()
  private readonly maxSize: number

  constructor (maxSize = SEEN_CACHE_SIZE) {
    this.maxSize = Math.max(1, maxSize)
  }

  get size (): number {
    return this.entries.size
  }

  has (key: string, now: number): boolean {
    const expiresAt = this.entries.get(key)
    return expiresAt !== undefined && expiresAt > now
  }

  delete (key: string): void {
    this.entries.delete(key)
  }

  add (key: string, expiresAt: number, now: number): void {
    this.entries.delete(key)
    this.entries.set(key, expiresAt)
    this.evict(now)
  }

  private evict (now: number): void {
    // Insertion order roughly follows expiry order, so expired entries cluster at the head.
    for (const [key, expiresAt] of this.entries) {
      if (this.entries.size <= this.maxSize && expiresAt > now) break
      this.entries.delete(key)
    }
  }
}
