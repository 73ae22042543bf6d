/**
 * Property-based fuzzing of the wire protocol's pure code (docs/RESULTS.md, "Protocol fuzzing"):
 * the gossip validator and its four per-type validators, the dag-json codec, run and ensemble
 * manifests, sample-protocol frames. Every input is answered ACCEPT/REJECT/IGNORE or with a
 * named hddm error; see fuzz-harness.ts for the generators, test/bench/fuzz.ts for 10 000 inputs.
 * HDDM_FUZZ_RUNS sets the inputs per target, HDDM_FUZZ_SEED the seed.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseRunManifestJson } from '../../src/protocol/run-manifest.js'
import { fuzzForTest, fuzzRuns } from './fuzz-harness.js'
import { gossipTargets, manifestTargets, sampleMessageTargets } from './fuzz-targets.js'

const targets = [...await gossipTargets(), ...await manifestTargets(), ...await sampleMessageTargets()]

describe('fuzzing the wire protocol', () => {
  const cases = targets.map((t) => [t.name, t] as const)
  it.each(cases)('%s answers every input with a verdict or a typed error', async (_, target) => {
    const stats = await fuzzForTest(target)
    expect(stats.crashes).toBe(0)
    // The generators must get past the first check often enough to test the later ones.
    if (fuzzRuns() >= 100 && target.name !== 'gossip:bytes') expect(stats.accept).toBeGreaterThan(0)
    if (fuzzRuns() >= 100) expect(stats.reject + stats.ignore + stats['typed-error']).toBeGreaterThan(0)
  })

  it('refuses a manifest with a huge k at once (it looped over every cluster: 2^53 - 1 ran out of memory)', () => {
    const text = readFileSync(new URL('../../manifests/default.json', import.meta.url), 'utf8')
    const manifest = JSON.parse(text) as Record<string, unknown>
    // 100 000 first: were the loop back, this fails in a second instead of hanging on 2^53.
    for (const k of [100_000, Number.MAX_SAFE_INTEGER]) {
      const started = performance.now()
      let issues: string[] = []
      try {
        parseRunManifestJson(JSON.stringify({ ...manifest, k }))
      } catch (err) {
        expect(err).toMatchObject({ name: 'InvalidManifestError' })
        issues = (err as { issues: string[] }).issues
      }
      expect(issues.some((i) => i.startsWith('k:'))).toBe(true)
      expect(issues.length).toBeLessThan(300)
      expect(performance.now() - started).toBeLessThan(2000)
    }
  })
})
