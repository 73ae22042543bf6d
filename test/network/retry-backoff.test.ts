import { describe, expect, it } from 'vitest'
import { RetryBackoff } from '../../src/network/retry-backoff.js'

/** The times in [0, until) at which a timer ticking every `tickMs` would try `key`. */
function attempts (backoff: RetryBackoff<string>, key: string, tickMs: number, until: number, first = 0): number[] {
  const times: number[] = []
  for (let now = 0; now < until; now += tickMs) if (backoff.due(key, now, first)) times.push(now)
  return times
}

describe('RetryBackoff', () => {
  it('tries first when told, then after the interval, doubling up to the ceiling', () => {
    const backoff = new RetryBackoff<string>(100, 400)
    expect(attempts(backoff, 'a', 100, 2000, 300)).toEqual([300, 400, 600, 1000, 1400, 1800])
    expect(backoff.since('a')).toBe(0)
  })

  it('keeps keys apart and starts a deleted key over', () => {
    const backoff = new RetryBackoff<string>(100, 1000)
    expect(attempts(backoff, 'a', 100, 700)).toEqual([0, 100, 300])
    expect(backoff.due('b', 350)).toBe(true)
    expect(backoff.due('a', 650)).toBe(false)
    backoff.delete('a')
    expect(backoff.since('a')).toBeUndefined()
    expect(backoff.due('a', 650)).toBe(true)
    expect([...backoff.keys()].sort()).toEqual(['a', 'b'])
  })
})
