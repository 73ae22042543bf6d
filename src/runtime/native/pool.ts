/**
 * Output buffers for the native kernels, recycled when tfjs disposes them.
 *
 * A fresh multi-megabyte Float32Array costs about a millisecond (zero fill, page faults) and a
 * training step makes hundreds, so buffers are reused by length. The one rule: a buffer is
 * recycled only if nobody else can still see it. Only buffers our kernels allocated are ever
 * recycled, and a buffer stops being ours for good ("escapes") once user code has read it
 * (readSync/dataSync/data/array all return the backing array itself) or once it has been the
 * input of a kernel we did not write (tfjs's Slice, for one, returns a `subarray` view on it).
 */
export interface PoolStats {
  hits: number
  misses: number
  recycled: number
  escaped: number
  idleBytes: number
}

export interface BufferPoolInit {
  /** false: track ownership (for in-place updates) but never recycle. */
  recycle: boolean
  /** Idle memory the pool may hold; beyond it released buffers go to the garbage collector. */
  maxIdleBytes: number
}

export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>()
  private readonly owned = new WeakSet<Float32Array>()
  private readonly idle = new WeakSet<Float32Array>()
  private readonly stats: PoolStats = { hits: 0, misses: 0, recycled: 0, escaped: 0, idleBytes: 0 }

  constructor (private readonly init: BufferPoolInit) {}

  /** A buffer of exactly `length` elements with arbitrary contents: kernels overwrite it all. */
  take (length: number): Float32Array {
    const reused = this.free.get(length)?.pop()
    let buffer: Float32Array
    if (reused !== undefined) {
      this.idle.delete(reused)
      this.stats.idleBytes -= reused.byteLength
      this.stats.hits++
      buffer = reused
    } else {
      this.stats.misses++
      buffer = new Float32Array(length)
    }
    this.owned.add(buffer)
    return buffer
  }

  /** True while only tfjs, through our kernels, has seen this buffer. */
  isOwned (buffer: unknown): buffer is Float32Array {
    return buffer instanceof Float32Array && this.owned.has(buffer)
  }

  escape (buffer: unknown): void {
    if (buffer instanceof Float32Array && this.owned.delete(buffer)) this.stats.escaped++
  }

  /** tfjs dropped the last reference to `buffer`. */
  release (buffer: unknown): void {
    if (!this.init.recycle || !this.isOwned(buffer) || this.idle.has(buffer)) return
    if (this.stats.idleBytes + buffer.byteLength > this.init.maxIdleBytes) return
    let list = this.free.get(buffer.length)
    if (list === undefined) this.free.set(buffer.length, list = [])
    list.push(buffer)
    this.idle.add(buffer)
    this.stats.idleBytes += buffer.byteLength
    this.stats.recycled++
  }

  clear (): void {
    this.free.clear()
    this.stats.idleBytes = 0
  }

  snapshot (): PoolStats {
    return { ...this.stats }
  }
}
