/**
 * Output buffers for the native kernels, recycled when tfjs disposes them.
 *
 * A fresh multi-megabyte Float32Array costs about a millisecond (zero fill, page faults) and a
 * training step makes hundreds, so buffers are reused by size class. The one rule: a buffer is
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
  /** Idle buffers dropped, oldest first, to make room for newly released ones. */
  evicted: number
  idleBytes: number
}

export interface BufferPoolInit {
  /** false: track ownership (for in-place updates) but never recycle. */
  recycle: boolean
  /**
   * Idle memory the pool may hold; beyond it the oldest idle buffers go to the garbage collector,
   * so that a pool filled by one workload's sizes still serves the next workload.
   */
  maxIdleBytes: number
}

/** Size classes per doubling of length: a class wastes at most 1/8 of its buffer. */
const CLASSES_PER_OCTAVE = 8
/** Up to this length buffers are pooled by exact length (cheap to allocate, often reused). */
const EXACT_UP_TO = 1024
/**
 * A request may take an idle store of a larger class, up to this many times its length: an
 * idle store serving a smaller request costs nothing, a fresh one costs an allocation.
 */
const MAX_SLACK = 1.5

/**
 * The length of the buffer that serves a request of `length` elements. Reuse by exact length
 * missed whenever shapes vary: top-k sampling gives each expert a different number of rows at
 * every step, so the pool filled its whole budget with odd sizes during the first sampling call,
 * and every later output of the process was a fresh allocation, 2-4x slower (measured:
 * docs/RESULTS.md "Ensemble sampling by routing").
 */
export function capacityOf (length: number): number {
  if (length <= EXACT_UP_TO) return length
  const step = 2 ** (Math.floor(Math.log2(length)) - Math.log2(CLASSES_PER_OCTAVE))
  return Math.ceil(length / step) * step
}

export class BufferPool {
  /** Idle backing stores by capacity (elements). */
  private readonly free = new Map<number, Set<ArrayBuffer>>()
  /** Every idle store with its capacity, oldest release first (Map keeps insertion order). */
  private readonly byAge = new Map<ArrayBuffer, number>()
  /** The views handed out that only tfjs, through our kernels, has seen. */
  private readonly owned = new WeakSet<Float32Array>()
  private readonly stats: PoolStats = { hits: 0, misses: 0, recycled: 0, escaped: 0, evicted: 0, idleBytes: 0 }

  constructor (private readonly init: BufferPoolInit) {}

  /**
   * A buffer of exactly `length` elements with arbitrary contents (kernels overwrite it all):
   * a view on the start of a backing store of at least `capacityOf(length)` elements.
   */
  take (length: number): Float32Array {
    let backing = this.reusable(length)
    if (backing !== undefined) {
      this.stats.hits++
    } else {
      this.stats.misses++
      backing = new ArrayBuffer(capacityOf(length) * Float32Array.BYTES_PER_ELEMENT)
    }
    const buffer = new Float32Array(backing, 0, length)
    this.owned.add(buffer)
    return buffer
  }

  /** An idle store of `length`'s class, else of a larger class up to MAX_SLACK x `length`. */
  private reusable (length: number): ArrayBuffer | undefined {
    const first = capacityOf(length)
    const last = first === length && length <= EXACT_UP_TO ? first : MAX_SLACK * length
    for (let capacity = first; capacity <= last; capacity = capacityOf(capacity + 1)) {
      const idle = this.free.get(capacity)
      if (idle === undefined || idle.size === 0) continue
      const backing = idle.values().next().value as ArrayBuffer
      this.forget(backing, capacity)
      return backing
    }
    return undefined
  }

  /** True while only tfjs, through our kernels, has seen this buffer. */
  isOwned (buffer: unknown): buffer is Float32Array {
    return buffer instanceof Float32Array && this.owned.has(buffer)
  }

  escape (buffer: unknown): void {
    if (buffer instanceof Float32Array && this.owned.delete(buffer)) this.stats.escaped++
  }

  /** tfjs dropped the last reference to `buffer`; releasing it again does nothing. */
  release (buffer: unknown): void {
    if (!this.isOwned(buffer)) return
    this.owned.delete(buffer)
    const backing = buffer.buffer as ArrayBuffer
    if (!this.init.recycle || backing.byteLength > this.init.maxIdleBytes) return
    while (this.stats.idleBytes + backing.byteLength > this.init.maxIdleBytes) {
      const [oldest, capacity] = this.byAge.entries().next().value as [ArrayBuffer, number]
      this.forget(oldest, capacity)
      this.stats.evicted++
    }
    const capacity = backing.byteLength / Float32Array.BYTES_PER_ELEMENT
    let idle = this.free.get(capacity)
    if (idle === undefined) this.free.set(capacity, idle = new Set())
    idle.add(backing)
    this.byAge.set(backing, capacity)
    this.stats.idleBytes += backing.byteLength
    this.stats.recycled++
  }

  private forget (backing: ArrayBuffer, capacity: number): void {
    this.free.get(capacity)?.delete(backing)
    this.byAge.delete(backing)
    this.stats.idleBytes -= backing.byteLength
  }

  clear (): void {
    this.free.clear()
    this.byAge.clear()
    this.stats.idleBytes = 0
  }

  snapshot (): PoolStats {
    return { ...this.stats }
  }
}
