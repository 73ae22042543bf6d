/**
 * Property-based fuzzing of what a peer's checkpoint file goes through: the safetensors decoder
 * (decodeCheckpoint) and the content check of an announced checkpoint (checkAnnouncedCheckpoint).
 * See fuzz-harness.ts; HDDM_FUZZ_RUNS and HDDM_FUZZ_SEED as in fuzz-protocol.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { CHECKPOINT_FORMAT, decodeCheckpoint } from '../../src/checkpoint/format.js'
import { encodeSafetensors } from '../../src/checkpoint/safetensors.js'
import { fuzzForTest, fuzzRuns } from './fuzz-harness.js'
import { checkpointTargets } from './fuzz-targets.js'

const targets = await checkpointTargets()

describe('fuzzing checkpoint decoding', () => {
  const cases = targets.map((t) => [t.name, t] as const)
  it.each(cases)('%s answers every input with a checkpoint or a typed error', async (_, target) => {
    const stats = await fuzzForTest(target)
    expect(stats.crashes).toBe(0)
    if (fuzzRuns() >= 100) expect(stats.accept).toBeGreaterThan(0)
    if (fuzzRuns() >= 100) expect(stats['typed-error']).toBeGreaterThan(0)
  })

  it('refuses metadata fields of the wrong type (an object posing as the run id made String() throw)', () => {
    const metadata = {
      format: CHECKPOINT_FORMAT, network: 'expert', config: { hidden: 64 }, objective: 'fm', cluster: 1, step: 3,
      run: 'bafyrun'
    }
    const file = (m: unknown): Uint8Array =>
      encodeSafetensors({ tensors: new Map(), metadata: { hddm: JSON.stringify(m) } })
    expect(decodeCheckpoint(file(metadata)).metadata.run).toBe('bafyrun')
    const wrong = [
      { run: { toString: 1 } }, { objective: ['fm'] }, { cluster: '1' }, { preset: {} }, { dataDigest: 7 },
      { config: { hidden: { valueOf: 1 } } }
    ]
    const corrupt = expect.objectContaining({ name: 'CorruptCheckpointError' })
    for (const bad of wrong) {
      expect(() => decodeCheckpoint(file({ ...metadata, ...bad }))).toThrowError(corrupt)
    }
  })
})
