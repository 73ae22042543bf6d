/**
 * The dashboard of a running node, in a real browser: a two-node swarm on 127.0.0.1 trains a
 * tiny run, and headless Chromium (Debian's, driven by playwright-core) watches node A's page
 * fill in: the coverage table gets checkpoints, the gallery images, the charts lines, the peers
 * table node B. Once every task is final, A assembles the ensemble (as `hddm-node ensemble`
 * would on its data directory), the page lists it, and a click draws samples. With
 * HDDM_SCREENSHOT=1 the page is saved to docs/img/dashboard.png (CI leaves the docs alone).
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js'
import { assembleEnsemble, publishEnsemble } from '../../src/node/assemble.js'
import { createHddmNode, type HddmNode, type RunSource } from '../../src/node/hddm-node.js'
import { mergeCoverage } from '../../src/node/coverage.js'
import { parseRunManifest } from '../../src/protocol/run-manifest.js'
import { createWorkerTaskTrainer } from '../../src/node/worker-trainer.js'
import { disposeBackend, initBackend } from '../../src/runtime/backend.js'
import { captureLog } from '../utils/log-capture.js'
import { waitFor } from '../utils/wait.js'
import { FAST_LOOP, tinyRun } from '../node/fixtures.js'

const CHROMIUM = process.env.HDDM_CHROMIUM ?? '/usr/bin/chromium'
// No skipping: .ci/run installs chromium, and without it this file fails saying so.
if (!existsSync(CHROMIUM)) {
  throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set HDDM_CHROMIUM`)
}

const SCREENSHOT = process.env.HDDM_SCREENSHOT === '1'
const log = captureLog()

describe('dashboard in Chromium', () => {
  const dirs: string[] = []
  const nodes: HddmNode[] = []
  let dashboard: Dashboard | undefined
  let browser: Browser | undefined

  beforeAll(async () => {
    // The gallery and the sample action draw on this thread, as on a node's main thread.
    await initBackend({ backend: 'auto', threads: 1 })
  })

  afterAll(async () => {
    await browser?.close()
    await dashboard?.stop()
    await Promise.all(nodes.map(async (node) => { await node.stop() }))
    for (const dir of dirs) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
    await disposeBackend()
  }, 120_000)

  const title = 'shows a training swarm live: coverage, gallery, curves, peers, and draws from its ensemble'
  it(title,
    { timeout: 480_000 }, async () => {
      // A dozen steps of training are enough to test the page; the screenshot shows a longer run.
      const steps = SCREENSHOT ? 400 : 8
      const base = await tinyRun({ name: 'dashboard-test', steps, checkpointEvery: steps / 2, routerSteps: steps / 2 })
      // Assembly checks every final against the run's held-out bounds, which 8 steps do not reach.
      const manifest = parseRunManifest({ ...base, eval: { ...base.eval, heldOutLossMax: { ddpm: 5, fm: 5 } } })
      const net = { listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback' as const, heartbeatIntervalMs: 200 }
      const node = async (name: string, source: RunSource, bootstrap?: string[]): Promise<HddmNode> => {
        const dataDir = await mkdtemp(join(tmpdir(), `hddm-dashboard-${name}-`))
        dirs.push(dataDir)
        const created = createHddmNode({
          ...net, dataDir, source, bootstrap, trainer: createWorkerTaskTrainer({ backend: 'auto' }), loop: FAST_LOOP,
          logger: log.logger(name)
        })
        nodes.push(created)
        await created.start()
        return created
      }
      const a = await node('A', { manifest })
      dashboard = createDashboard({
        title: 'hddm-node A', gallery: { source: 'own', minIntervalMs: 0 }, refreshMs: 1000, logger: log.logger('dash')
      }, { node: a })
      await dashboard.start()
      const b = await node('B', { run: a.runId }, [a.multiaddrs()[0]])
      const explain = (): string => `the nodes logged:\n${log.tail()}`

      browser = await chromium.launch({ executablePath: CHROMIUM })
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
      const errors: string[] = []
      page.on('pageerror', (err) => { errors.push(err.message) })
      page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()) })
      await page.goto(dashboard.url)
      await page.waitForSelector('#connection[data-state="live"]')
      expect(await page.locator('#coverage tbody tr').count()).toBe(manifest.tasks.length)

      // A checkpoint reaches the coverage table, and the gallery draws A's own.
      const checkpointRow = '#coverage tbody tr[data-step]:not([data-step=""])'
      await waitFor(async () => await page.locator(checkpointRow).count() > 0, 'a coverage row with a checkpoint',
        { timeoutMs: 300_000, explain })
      await waitFor(async () => await page.locator('#gallery img').count() > 0, 'gallery images',
        { timeoutMs: 300_000, explain })
      const gallery = page.locator('#gallery .gallery-row').first()
      const prompts = await gallery.locator('img').evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).alt))
      expect(prompts.length).toBeGreaterThan(0)
      expect(prompts.every((p) => /^[a-z]+$/.test(p))).toBe(true)
      expect(await gallery.locator('img').first().evaluate((i) => (i as HTMLImageElement).naturalWidth)).toBe(28)
      await waitFor(async () => await page.locator('#chart-loss svg path').count() > 0, 'the loss curve')
      await waitFor(async () => await page.locator(`#peers tbody tr[data-peer="${b.peerId}"]`).count() === 1,
        'node B in the peers table')

      // Every task final: the page's coverage is the map `hddm-node status` prints.
      await waitFor(() => a.doneTasks().length === manifest.tasks.length, 'every task final on A',
        { timeoutMs: 300_000, explain })
      const merged = mergeCoverage([a.coverage(), ...await a.peerCoverage()])
      const finalCids = merged.map((row) => row.checkpoint?.cid)
      const checkpointCells = page.locator('#coverage tbody tr td.checkpoint span')
      const pageCids = async (): Promise<Array<string | null>> =>
        await checkpointCells.evaluateAll((spans) => spans.map((s) => s.getAttribute('title')))
      await waitFor(async () => JSON.stringify(await pageCids()) === JSON.stringify(finalCids),
        'the page to show every final checkpoint')
      const text = await (await fetch(new URL('/api/coverage.txt', dashboard.url))).text()
      for (const row of merged) expect(text).toContain(row.checkpoint!.cid)

      // An ensemble assembled on A's data directory is listed, and a click draws from it.
      const assembly = { runId: a.runId, manifest: a.manifest, coverage: merged, storage: a.blocks }
      const ensemble = await assembleEnsemble(assembly)
      let ensembleCid: string
      try {
        ensembleCid = (await publishEnsemble(a.blocks, ensemble, { provide: false })).id.toString()
      } finally {
        ensemble.dispose()
      }
      const button = page.locator(`.ensemble[data-ensemble="${ensembleCid}"] button.sample`)
      await button.waitFor({ timeout: 30_000 })
      const select = page.locator(`.ensemble[data-ensemble="${ensembleCid}"] select`)
      const prompt = await select.locator('option').nth(1).getAttribute('value')
      await select.selectOption(prompt!)
      await button.click()
      await page.waitForSelector('#sample-images img', { timeout: 120_000 })
      const drawn = await page.locator('#sample-images img')
        .evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).alt))
      expect(drawn).toEqual([prompt, prompt, prompt, prompt])

      if (SCREENSHOT) {
        await page.screenshot({ path: 'docs/img/dashboard.png', fullPage: true })
      }
      expect(errors).toEqual([])
    })
})
