/**
 * Property-based fuzzing over real libp2p streams on 127.0.0.1 (fuzz-network.ts): a node serving
 * /hddm/sample/1.0.0 gets fuzzed request frames and framings from a second node and answers each
 * with well-formed frames ending in `done` or the typed error the request deserves; the sample
 * and coverage clients, facing a hostile peer, return a result or a typed error. Afterwards the
 * server still serves an honest request and holds no job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fuzzForTest, fuzzRuns } from './fuzz-harness.js'
import { networkTargets, type NetworkTargets } from './fuzz-network.js'

let network: NetworkTargets

beforeAll(async () => { network = await networkTargets() }, 60_000)
afterAll(async () => { await network?.close() })

describe('fuzzing the stream protocols between real nodes', () => {
  const names = ['sample-service', 'sample-client', 'coverage-client']
  it.each(names)('%s answers every input with frames or a typed error', { timeout: 120_000 }, async (name) => {
    const target = network.targets.find((t) => t.name === name)!
    const stats = await fuzzForTest(target, 15_000)
    expect(stats.crashes).toBe(0)
    if (fuzzRuns() >= 100) expect(stats.accept).toBeGreaterThan(0)
    if (fuzzRuns() >= 100) expect(stats.reject + stats['typed-error']).toBeGreaterThan(0)
  })

  it('a coverage reply that is not JSON is a CoverageQueryError (it was a bare SyntaxError)', async () => {
    const coverage = network.targets.find((t) => t.name === 'coverage-client')!
    const payload = new TextEncoder().encode('"\\u00"')
    expect(await coverage.run({ payload, framing: 'lp', end: 'close' })).toBe('typed-error')
  })

  it('still serves an honest request afterwards, with no job left running', async () => {
    await network.serviceCheck()
    expect(network.service.active).toBe(0)
  })
})
