import { parse, View } from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import { describe, expect, it } from 'vitest'
import { dashboardCharts, type DashboardChart } from '../../src/dashboard/charts.js'
import { DashboardState } from '../../src/dashboard/state.js'

describe('dashboard charts', () => {
  it('compile with Vega-Lite and draw one line per task from the datasets the page streams', async () => {
    let now = Date.UTC(2026, 0, 1)
    const state = new DashboardState({ clock: () => now })
    for (let step = 1; step <= 50; step++) {
      now += 1000
      for (const task of ['expert-0', 'expert-1']) {
        state.recordStep('node-1', { task, step, totalSteps: 50, loss: 2 / step, imagesPerSecond: 80, etaSeconds: 1 })
      }
      if (step % 10 === 0) {
        const checkpoint = { task: 'expert-0', cid: `c${step}`, step, final: false, heldOutLoss: 1 / step, peer: 'p' }
        state.recordCheckpoint(checkpoint)
      }
    }
    const history = state.history()
    const charts = dashboardCharts(['expert-0', 'expert-1', 'router'])
    for (const [name, chart] of Object.entries(charts) as Array<[string, DashboardChart]>) {
      // The page sets a width from its container; headless, a fixed one.
      const spec = { ...chart.spec, width: 400 } as TopLevelSpec
      const view = new View(parse(compile(spec).spec), { renderer: 'none' })
      try {
        await view.data(chart.data, history[chart.data]).runAsync()
        const svg = await view.toSVG()
        // One line mark per (task, trainer).
        expect(svg.match(/class="mark-line role-mark/g)?.length, name).toBe(chart.data === 'steps' ? 2 : 1)
        expect(svg, name).toContain('expert-0')
        if (chart.data === 'steps') expect(svg, name).toContain('expert-1')
      } finally {
        view.finalize()
      }
    }
  })
})
