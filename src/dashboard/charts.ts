/**
 * The page's charts as Vega-Lite specs (the project's one charting stack, as src/eval/plot.ts
 * for the docs' figures). Each reads a named dataset that the page fills from the snapshot and
 * then streams points into (`view.insert`), so a new step costs one row, not a redraw of the
 * spec: `steps` (StepPoint rows) and `heldOut` (HeldOutPoint rows). Tasks keep one colour in
 * every chart.
 */
import type { TopLevelSpec } from 'vega-lite'

/** A chart and the dataset it reads. */
export interface DashboardChart {
  data: 'steps' | 'heldOut'
  spec: TopLevelSpec
}

export interface DashboardCharts {
  loss: DashboardChart
  heldOut: DashboardChart
  speed: DashboardChart
}

interface ChartOptions {
  data: DashboardChart['data']
  x: 't' | 'step'
  y: string
  title: string
  log?: boolean
  points?: boolean
}

export function dashboardCharts (tasks: string[]): DashboardCharts {
  return {
    loss: chart(tasks, { data: 'steps', x: 't', y: 'loss', title: 'loss', log: true }),
    heldOut: chart(tasks, { data: 'heldOut', x: 'step', y: 'heldOutLoss', title: 'held-out loss', points: true }),
    speed: chart(tasks, { data: 'steps', x: 't', y: 'imagesPerSecond', title: 'images/s' })
  }
}

function chart (tasks: string[], o: ChartOptions): DashboardChart {
  const scale = o.log === true ? { type: 'log' as const } : { zero: false }
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { name: o.data },
    width: 'container',
    height: 180,
    mark: { type: 'line', interpolate: 'monotone', point: o.points === true, tooltip: true },
    encoding: {
      x: o.x === 't'
        ? { field: 't', type: 'temporal', title: null }
        : { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: o.y, type: 'quantitative', title: o.title, scale },
      color: { field: 'task', type: 'nominal', scale: { domain: tasks }, legend: { orient: 'bottom', title: null } },
      // One line per trainer of a task: a task taken over after a lost lease is a second line.
      detail: { field: 'who' }
    },
    config: { view: { stroke: null }, axis: { labelFontSize: 10, titleFontSize: 11 } }
  }
  return { data: o.data, spec }
}
