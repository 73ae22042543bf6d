import { describe, expect, it } from 'vitest'
import { waitFor, waitForWith, WaitTimeoutError } from './wait.js'

describe('waitFor', () => {
  it('returns the first value the probe gives, polling until then', async () => {
    let calls = 0
    const value = await waitFor(() => ++calls >= 3 && { calls }, 'three calls', { intervalMs: 1 })
    expect(value).toEqual({ calls: 3 })
  })

  it('awaits an async probe', async () => {
    let calls = 0
    const probe = async (): Promise<string | undefined> => ++calls === 2 ? 'ready' : undefined
    expect(await waitFor(probe, 'an async probe', { intervalMs: 1 })).toBe('ready')
  })

  it('times out naming what it waited for and why, from explain', async () => {
    const started = Date.now()
    const options = { timeoutMs: 50, intervalMs: 10, explain: () => 'the node logged: nothing' }
    const err = await waitFor(() => false, 'the impossible', options)
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WaitTimeoutError)
    expect((err as Error).name).toBe('WaitTimeoutError')
    expect((err as Error).message).toMatch(/^timed out after 0 s waiting for the impossible\nthe node logged: nothing$/)
    expect(Date.now() - started).toBeGreaterThanOrEqual(50)
  })

  it('still times out with the budget when explain fails', async () => {
    const explain = (): string => { throw new Error('no log') }
    await expect(waitFor(() => undefined, 'x', { timeoutMs: 10, explain }))
      .rejects.toThrow(/waiting for x\n\(explain failed: Error: no log\)/)
  })

  it('fails at once when the probe throws', async () => {
    const started = Date.now()
    const brokenProbe = (): never => { throw new TypeError('broken probe') }
    await expect(waitFor(brokenProbe, 'x', { timeoutMs: 10_000 })).rejects.toThrow(TypeError)
    expect(Date.now() - started).toBeLessThan(1000)
  })
})

describe('waitForWith', () => {
  it('waits with its defaults, and a number overrides the budget alone', async () => {
    const wait = waitForWith({ timeoutMs: 10_000, explain: () => 'the default explanation' })
    const started = Date.now()
    await expect(wait(() => undefined, 'x', 30)).rejects.toThrow(/waiting for x\nthe default explanation/)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(await wait(() => 7, 'a value')).toBe(7)
  })
})
