/**
 * Property-based fuzzing of the data a peer can hand us: shards (fetched by CID for training and
 * verification) and PNGs (a sample server's images, decoded by `hddm-node sample --peer`).
 * See fuzz-harness.ts; HDDM_FUZZ_RUNS and HDDM_FUZZ_SEED as in fuzz-protocol.test.ts.
 */
import { createDeflate, crc32 } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { decodePng, encodePng } from '../../src/data/png.js'
import { concatBytes, fuzzForTest, fuzzRuns } from './fuzz-harness.js'
import { dataTargets } from './fuzz-targets.js'

const targets = dataTargets()

/** Deflated zeros, streamed so that making the bomb does not itself raise the peak memory. */
async function deflatedZeros (bytes: number): Promise<Uint8Array> {
  const deflate = createDeflate({ level: 9 })
  const parts: Uint8Array[] = []
  deflate.on('data', (chunk: Uint8Array) => parts.push(chunk))
  const ended = new Promise((resolve) => deflate.on('end', resolve))
  const zeros = new Uint8Array(1 << 20)
  for (let n = 0; n < bytes; n += zeros.length) {
    if (!deflate.write(zeros)) await new Promise((resolve) => deflate.once('drain', resolve))
  }
  deflate.end()
  await ended
  return concatBytes(parts)
}

describe('fuzzing data decoders', () => {
  const cases = targets.map((t) => [t.name, t] as const)
  it.each(cases)('%s answers every input with data or a typed error', async (_, target) => {
    const stats = await fuzzForTest(target)
    expect(stats.crashes).toBe(0)
    if (fuzzRuns() >= 100) expect(stats.accept).toBeGreaterThan(0)
    if (fuzzRuns() >= 100) expect(stats['typed-error']).toBeGreaterThan(0)
  })

  it('refuses a 1x1 PNG whose data inflates to 256 MiB without inflating it (it used to allocate it all)', async () => {
    const idat = await deflatedZeros(256 << 20)
    expect(idat.length).toBeLessThan(1 << 20) // fits in one sample-protocol frame
    const valid = encodePng({ width: 1, height: 1, channels: 1, pixels: Uint8Array.of(7) })
    const chunk = new Uint8Array(12 + idat.length)
    const view = new DataView(chunk.buffer)
    view.setUint32(0, idat.length)
    chunk.set(new TextEncoder().encode('IDAT'), 4)
    chunk.set(idat, 8)
    view.setUint32(8 + idat.length, crc32(chunk.subarray(4, 8 + idat.length)))
    const bomb = concatBytes([valid.subarray(0, 8 + 12 + 13), chunk, valid.subarray(valid.length - 12)])
    const peakBefore = process.resourceUsage().maxRSS // KiB
    const started = performance.now()
    expect(() => decodePng(bomb)).toThrowError(expect.objectContaining({ name: 'InvalidPngError' }))
    expect(performance.now() - started).toBeLessThan(1000)
    expect(process.resourceUsage().maxRSS - peakBefore).toBeLessThan(64 * 1024)
  })
})
