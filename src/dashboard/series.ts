/**
 * A time series with a bounded number of points that still spans the whole run: when it is
 * full, every other point is dropped and from then on only every second point is kept (then
 * every fourth, ...). Memory stays at `capacity` points however long the node trains, and the
 * curve keeps its start, which a ring buffer would forget.
 */
export class BoundedSeries<T> {
  private readonly points: T[] = []
  /** Keep one point in `stride`. */
  private stride = 1
  private offered = 0

  constructor (readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 2) throw new RangeError('capacity must be an integer >= 2')
  }

  /** Adds a point; returns whether it was kept (a caller that streams points sends only those). */
  push (point: T): boolean {
    const index = this.offered++
    if (index % this.stride !== 0) return false
    if (this.points.length >= this.capacity) {
      const kept = this.points.filter((_, i) => i % 2 === 0)
      this.points.length = 0
      this.points.push(...kept)
      this.stride *= 2
      if (index % this.stride !== 0) return false
    }
    this.points.push(point)
    return true
  }

  get length (): number { return this.points.length }

  values (): T[] { return [...this.points] }
}
