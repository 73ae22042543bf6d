import { describe, expect, it } from 'vitest'
import { parseDashboardAddress, dashboardUrl, isLoopbackHost } from '../../src/dashboard/address.js'
import { TokenBucket } from '../../src/dashboard/rate-limit.js'
import { BoundedSeries } from '../../src/dashboard/series.js'
import { DashboardState } from '../../src/dashboard/state.js'

describe('BoundedSeries', () => {
  it('never holds more than its capacity, keeps the first point and spaces the rest evenly', () => {
    const series = new BoundedSeries<number>(8)
    for (let i = 0; i < 10_000; i++) series.push(i)
    const points = series.values()
    expect(points.length).toBeLessThanOrEqual(8)
    expect(points.length).toBeGreaterThanOrEqual(4)
    expect(points[0]).toBe(0)
    const gaps = new Set(points.slice(1).map((p, i) => p - points[i]))
    expect(gaps.size).toBe(1)
    // The kept points still reach the end of the run.
    expect(points.at(-1)!).toBeGreaterThan(10_000 - 2 * [...gaps][0])
  })
})

describe('DashboardState: bounded histories', () => {
  it('keeps at most historyPoints per task and curve, and logLines log lines, however long it runs', () => {
    let now = 0
    const state = new DashboardState({ historyPoints: 32, logLines: 10, clock: () => now })
    for (let i = 1; i <= 20_000; i++) {
      now += 100
      for (const task of ['expert-0', 'expert-1']) {
        const step = { task, step: i, totalSteps: 20_000, loss: 1 / i, imagesPerSecond: 50, etaSeconds: 1 }
        state.recordStep('node-1', step)
      }
      if (i % 10 === 0) {
        const checkpoint = { task: 'expert-0', cid: `cid-${i}`, step: i, final: false, heldOutLoss: 1 / i, peer: 'p' }
        state.recordCheckpoint(checkpoint)
      }
      state.log(`line ${i}`)
    }
    const size = state.size()
    expect(size.points).toBeLessThanOrEqual(3 * 32)
    expect(size.lines).toBe(10)
    const { steps, heldOut } = state.history()
    // The curve still starts at the first step and ends near the last.
    expect(steps.filter((p) => p.task === 'expert-1').map((p) => p.step)[0]).toBe(1)
    expect(Math.max(...steps.map((p) => p.step))).toBeGreaterThan(19_000)
    expect(heldOut[0].step).toBe(10)
    expect(state.logTail().at(-1)?.text).toBe('line 20000')
  })

  it('records a checkpoint once, and never one older than the newest of its task', () => {
    const state = new DashboardState()
    const seen: string[] = []
    state.addEventListener('checkpoint', (e) => { seen.push(e.detail.cid) })
    const announce = (cid: string, step: number): void => {
      state.recordCheckpoint({ task: 'expert-2', cid, step, final: false, heldOutLoss: 0.5, peer: 'p' })
    }
    announce('a', 4)
    announce('a', 4)
    announce('b', 8)
    announce('old', 6)
    expect(seen).toEqual(['a', 'b'])
    expect(state.history().heldOut.map((p) => p.step)).toEqual([4, 8])
  })
})

describe('TokenBucket', () => {
  it('allows a burst of capacity, then one action per refill period', () => {
    let now = 0
    const bucket = new TokenBucket({ capacity: 3, refillPerMinute: 6, clock: () => now })
    expect([bucket.take(), bucket.take(), bucket.take()].every((r) => r.ok)).toBe(true)
    const refused = bucket.take()
    expect(refused).toEqual({ ok: false, retryAfterMs: 10_000 })
    now += 9_999
    expect(bucket.take().ok).toBe(false)
    now += 1
    expect(bucket.take().ok).toBe(true)
    now += 3_600_000
    // A long idle time refills the bucket to its capacity, no further.
    const burst = [bucket.take(), bucket.take(), bucket.take(), bucket.take()].map((r) => r.ok)
    expect(burst).toEqual([true, true, true, false])
  })
})

describe('dashboard address', () => {
  it('defaults to loopback on its port, and takes host:port, :port, port, host and [v6]:port', () => {
    expect(parseDashboardAddress(true)).toEqual({ host: '127.0.0.1', port: 8470 })
    expect(parseDashboardAddress(true, 0)).toEqual({ host: '127.0.0.1', port: 0 })
    expect(parseDashboardAddress('nodes.example')).toEqual({ host: 'nodes.example', port: 8470 })
    expect(parseDashboardAddress('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 })
    expect(parseDashboardAddress(':8080')).toEqual({ host: '127.0.0.1', port: 8080 })
    expect(parseDashboardAddress('8080')).toEqual({ host: '127.0.0.1', port: 8080 })
    expect(parseDashboardAddress('0.0.0.0:80')).toEqual({ host: '0.0.0.0', port: 80 })
    expect(parseDashboardAddress('[::1]:9')).toEqual({ host: '::1', port: 9 })
    for (const bad of ['::1:80', 'host:99999', 'host:x', '[nope]:1']) {
      expect(() => parseDashboardAddress(bad), bad).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }))
    }
    expect(['127.0.0.1', '::1', '0.0.0.0'].map(isLoopbackHost)).toEqual([true, true, false])
    expect(dashboardUrl('::1', 80)).toBe('http://[::1]:80/')
    expect(dashboardUrl('0.0.0.0', 80)).toBe('http://127.0.0.1:80/')
  })
})
