/**
 * Line charts as Vega-Lite specs, rendered to SVG in Node by vega with no canvas: titles, tick
 * labels and legends are SVG text, not pixels. The spec is plain JSON, so the dashboard hands the
 * same one to vega in the browser, and the docs' figures (`npm run figures`) and the live page
 * draw alike.
 */
import { parse, View } from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import { InvalidArgumentError } from '../hddm-error.js'

/** A CSS colour ('#1f77b4', 'steelblue') or RGB 0-255. */
export type PlotColor = string | readonly [number, number, number]

export interface PlotSeries {
  name: string
  color: PlotColor
  /** [x, y] pairs; drawn in x order. */
  points: Array<[number, number]>
  /** [lo, hi] per point (e.g. a 90% bootstrap interval), in the order of `points`. */
  interval?: Array<[number, number]>
  /** How `interval` is drawn: error bars at each point (default) or a shaded band. */
  intervalMark?: 'bars' | 'band'
  /** Markers only, no connecting line. */
  markersOnly?: boolean
}

export interface LinePlotOptions {
  title?: string
  xLabel?: string
  yLabel?: string
  /** The plot area in pixels, without axes and legend (default 560 x 340). */
  width?: number
  height?: number
  /** 'log' for quantities that span decades (compute, steps); default 'linear'. */
  xScale?: 'linear' | 'log'
  /** Where the x ticks go (default: round numbers); e.g. the milestones, on a log axis over one decade. */
  xTicks?: number[]
  /** Axis ranges; by default x spans the data and y starts at 0 when the data are positive. */
  xRange?: [number, number]
  yRange?: [number, number]
}

/** One layer of a layered chart, from the public type (vega-lite exports its parts only as "unstable"). */
type Layer = Extract<TopLevelSpec, { layer: unknown }>['layer'][number]

interface Row { series: string, x: number, y: number, lo?: number, hi?: number }

export function cssColor (color: PlotColor): string {
  return typeof color === 'string' ? color : `rgb(${color.join(',')})`
}

/** A layered Vega-Lite line chart: one colour per series, a legend, and optional intervals. */
export function lineChartSpec (series: PlotSeries[], options: LinePlotOptions = {}): TopLevelSpec {
  const rows = toRows(series, options)
  const names = series.map(s => s.name)
  const named = (wanted: (s: PlotSeries) => boolean): string[] => series.filter(wanted).map(s => s.name)
  const only = (list: string[]): [{ filter: { field: string, oneOf: string[] } }] =>
    [{ filter: { field: 'series', oneOf: list } }]
  const y = (field: 'y' | 'lo') => ({
    field,
    type: 'quantitative' as const,
    title: options.yLabel ?? 'y',
    scale: options.yRange !== undefined ? { domain: options.yRange } : {}
  })
  const lines = named(s => s.markersOnly !== true)
  const markers = named(s => s.markersOnly === true)
  const bars = named(s => s.interval !== undefined && s.intervalMark !== 'band')
  const bands = named(s => s.interval !== undefined && s.intervalMark === 'band')
  const layer: Layer[] = []
  if (bands.length > 0) {
    layer.push({
      transform: only(bands), mark: { type: 'errorband', opacity: 0.2 },
      encoding: { y: y('lo'), y2: { field: 'hi' } }
    })
  }
  if (bars.length > 0) {
    layer.push({
      transform: only(bars), mark: { type: 'errorbar', ticks: true },
      encoding: { y: y('lo'), y2: { field: 'hi' } }
    })
  }
  if (lines.length > 0) layer.push({ transform: only(lines), mark: { type: 'line', point: { filled: true } } })
  if (markers.length > 0) layer.push({ transform: only(markers), mark: { type: 'point', filled: true } })
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title !== undefined ? { title: options.title } : {}),
    width: options.width ?? 560,
    height: options.height ?? 340,
    data: { values: rows },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: options.xLabel ?? 'x',
        ...(options.xTicks !== undefined ? { axis: { values: options.xTicks } } : {}),
        // Unlike y, x need not reach 0: steps and compute start where the first milestone is.
        scale: {
          type: options.xScale ?? 'linear',
          // Log: no round decades around the data (1-100 for 3.8-15), a margin instead.
          ...(options.xScale === 'log' ? { nice: false, padding: 16 } : { zero: false }),
          ...(options.xRange !== undefined ? { domain: options.xRange } : {})
        }
      },
      y: y('y'),
      color: {
        field: 'series',
        type: 'nominal',
        scale: { domain: names, range: series.map(s => cssColor(s.color)) },
        legend: { title: null, labelLimit: 400 }
      }
    },
    layer
  }
}

/** Compiles a Vega-Lite spec and renders it headless (vega's 'none' renderer) to an SVG document. */
export async function renderSvg (spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

/** `lineChartSpec` rendered to SVG. */
export async function linePlot (series: PlotSeries[], options: LinePlotOptions = {}): Promise<string> {
  return await renderSvg(lineChartSpec(series, options))
}

function toRows (series: PlotSeries[], options: LinePlotOptions): Row[] {
  if (series.every(s => s.points.length === 0)) throw new InvalidArgumentError('nothing to plot')
  if (new Set(series.map(s => s.name)).size !== series.length) {
    throw new InvalidArgumentError('plot series need distinct names (the legend tells them apart by name)')
  }
  const rows: Row[] = []
  for (const s of series) {
    if (s.interval !== undefined && s.interval.length !== s.points.length) {
      throw new InvalidArgumentError(`series ${s.name}: ${s.interval.length} intervals for ${s.points.length} points`)
    }
    s.points.forEach(([x, y], i) => {
      const [lo, hi] = s.interval?.[i] ?? [y, y]
      if (![x, y, lo, hi].every(Number.isFinite)) throw new InvalidArgumentError('plot points must be finite')
      if (lo > hi) throw new InvalidArgumentError(`series ${s.name}: interval [${lo}, ${hi}] is reversed`)
      if (options.xScale === 'log' && x <= 0) throw new InvalidArgumentError('a log x axis needs x > 0')
      rows.push(s.interval !== undefined ? { series: s.name, x, y, lo, hi } : { series: s.name, x, y })
    })
  }
  return rows
}
