import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { duration, SimulationProgress } from '../../src/cli/simulate-progress.js'
import { fastPathAdvice } from '../../src/runtime/backend-choice.js'
import { parseRunManifest } from '../../src/protocol/run-manifest.js'
import { readManifestFile } from '../../src/node/run-creation.js'

async function progressOn (
  contributors = 3, now?: () => number
): Promise<{ progress: SimulationProgress, lines: () => string[] }> {
  const { manifest } = await readManifestFile('manifests/default.json')
  const out = new PassThrough()
  let text = ''
  out.on('data', (chunk: Buffer) => { text += chunk.toString() })
  // A plain stream, as under CI or a pipe: lines, no bars.
  const progress = new SimulationProgress({
    manifest: parseRunManifest(manifest), contributors,
    out: out as unknown as NodeJS.WriteStream, elapsed: () => '0.0s', now
  })
  return { progress, lines: () => text.split('\n').filter((l) => l !== '') }
}

describe('simulate progress without a terminal', () => {
  it('prints a line per task at every tenth of its steps, with its own budget, and one when it is done', async () => {
    const { progress, lines } = await progressOn()
    const report = { task: 'expert-0', totalSteps: 4000, loss: 0.1, imagesPerSecond: 100, etaSeconds: 1 }
    for (let step = 1; step <= 4000; step += 50) progress.step('node-1', { ...report, step })
    progress.done('expert-0')
    const rows = lines().filter((l) => l.includes('expert-0'))
    // 10%, 20%, ... 90% (step 3951 is the last reported step below 4000), then done.
    expect(rows).toHaveLength(10)
    expect(rows[0]).toMatch(/expert-0 \(ddpm, c0\)\s+10% 401\/4000\s+node-1\s+loss 0\.1000\s+100 img\/s/)
    expect(rows[9]).toMatch(/100% 4000\/4000\s+done \(node-1\)/)
    expect(rows[9]).toMatch(/1\/5 done/)
  })

  it('plays the remaining work forward on the contributors, longest first, for the overall ETA', async () => {
    let clock = 0
    const { progress } = await progressOn(2, () => clock)
    expect(progress.etaSeconds()).toBeUndefined()
    const report = { task: 'expert-1', totalSteps: 2000, loss: 1, imagesPerSecond: 1, etaSeconds: 1 }
    progress.step('node-1', { ...report, step: 0 })
    clock += 1000
    progress.step('node-1', { ...report, step: 10 })
    // 0.1 s a step. Contributor A finishes expert-1 at 199 s while B trains the 4 000-step DDPM
    // task (to 400 s); A then takes expert-2 (to 399 s) and expert-3 (to 599 s), B the router
    // (300 steps at the experts' rate, to 430 s): done at 599 s.
    expect(progress.etaSeconds()).toBeCloseTo(599, 6)
    progress.stop()
  })

  it('formats durations as a person reads them', () => {
    expect(duration(5)).toBe('5s')
    expect(duration(75)).toBe('1m15s')
    expect(duration(Infinity)).toBe('-')
  })
})

describe('advice when training runs on a slow path', () => {
  it('names the one command that gives the native path, from why native was passed over', () => {
    expect(fastPathAdvice({ name: 'native' })).toBeUndefined()
    const noBlas = 'native: no BLAS library with cblas_sgemm found (install libopenblas0-pthread)'
    expect(fastPathAdvice({ name: 'wasm', reason: noBlas })).toMatch(/apt-get install libopenblas0-pthread/)
    const notBuilt = 'native: native addon not built (npm install runs scripts/build-native.mjs)'
    expect(fastPathAdvice({ name: 'wasm', reason: notBuilt })).toMatch(/node scripts\/build-native\.mjs/)
    expect(fastPathAdvice({ name: 'wasm', reason: 'native: disabled by HDDM_NATIVE=0' })).toMatch(/HDDM_NATIVE/)
  })
})
