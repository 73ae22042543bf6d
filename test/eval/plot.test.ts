import { describe, expect, it } from 'vitest'
import { lineChartSpec, linePlot, renderSvg, type PlotSeries } from '../../src/eval/plot.js'

const SERIES: PlotSeries[] = [
  { name: 'monolith', color: [80, 80, 80], points: [[1000, 30.3], [2000, 17.6], [4000, 16.0]] },
  {
    name: 'ensemble top-1', color: '#1f77b4', points: [[1000, 40.1], [2000, 25.2], [4000, 20.5]],
    interval: [[38, 43], [24, 27.5], [19, 22]]
  },
  { name: 'reference', color: 'green', points: [[2500, 6]], markersOnly: true }
]

const invalidArgument = expect.objectContaining({ name: 'InvalidArgumentError' })

/** Tags balance and nest: enough to call vega's SVG (no comments, CDATA or doctype) well formed. */
function expectWellFormedSvg (svg: string): void {
  expect(svg.startsWith('<svg ')).toBe(true)
  const open: string[] = []
  for (const [tag, close, name, selfClosing] of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)[^>]*?(\/?)>/g)) {
    if (close === '/') expect(open.pop(), tag).toBe(name)
    else if (selfClosing !== '/') open.push(name)
  }
  expect(open).toEqual([])
  expect(svg).not.toMatch(/<[^>]*<|&(?!(amp|lt|gt|quot|apos|#\d+);)/)
}

/** The text of every <text> element, unescaped. */
function texts (svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map(m => m[1]
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&'))
}

describe('lineChartSpec', () => {
  it('puts every series in the data, the legend and the colour scale, with titled axes', () => {
    const spec: any = lineChartSpec(SERIES, { title: 'FID vs steps', xLabel: 'steps', yLabel: 'FID' })
    expect(spec.title).toBe('FID vs steps')
    expect(spec.encoding.x).toMatchObject({ field: 'x', type: 'quantitative', title: 'steps' })
    expect(spec.encoding.y).toMatchObject({ field: 'y', type: 'quantitative', title: 'FID' })
    expect(spec.encoding.color.legend).toMatchObject({ title: null })
    expect(spec.encoding.color.scale).toEqual({
      domain: ['monolith', 'ensemble top-1', 'reference'], range: ['rgb(80,80,80)', '#1f77b4', 'green']
    })
    const rowsOf = (name: string): unknown[] => spec.data.values.filter((r: any) => r.series === name)
    expect(SERIES.map(s => rowsOf(s.name).length)).toEqual([3, 3, 1])
    // Lines for two series, markers alone for the third.
    const lineLayer = spec.layer.find((l: any) => l.mark.type === 'line')
    expect(lineLayer.transform[0].filter.oneOf).toEqual(['monolith', 'ensemble top-1'])
    const pointLayer = spec.layer.find((l: any) => l.mark.type === 'point')
    expect(pointLayer.transform[0].filter.oneOf).toEqual(['reference'])
  })

  it('draws intervals as error bars (default) or a band, only for the series that have them', () => {
    const spec: any = lineChartSpec(SERIES)
    const bars = spec.layer.filter((l: any) => l.mark.type === 'errorbar')
    expect(bars).toHaveLength(1)
    expect(bars[0].transform[0].filter.oneOf).toEqual(['ensemble top-1'])
    expect(bars[0].encoding).toMatchObject({ y: { field: 'lo' }, y2: { field: 'hi' } })
    expect(spec.data.values.find((r: any) => r.series === 'ensemble top-1' && r.x === 2000))
      .toEqual({ series: 'ensemble top-1', x: 2000, y: 25.2, lo: 24, hi: 27.5 })
    expect(spec.data.values.find((r: any) => r.series === 'monolith').lo).toBeUndefined()
    const banded: any = lineChartSpec([{ ...SERIES[1], intervalMark: 'band' }])
    expect(banded.layer.map((l: any) => l.mark.type)).toEqual(['errorband', 'line'])
  })

  it('sets a log x axis, tick values and ranges when asked', () => {
    const spec: any = lineChartSpec(SERIES, { xScale: 'log', xTicks: [1000, 4000], yRange: [0, 50] })
    expect(spec.encoding.x.scale.type).toBe('log')
    expect(spec.encoding.x.axis.values).toEqual([1000, 4000])
    expect(spec.encoding.y.scale.domain).toEqual([0, 50])
  })

  it('refuses non-finite points, mismatched or reversed intervals, x <= 0 on a log axis and twin names', () => {
    const bad: Array<[PlotSeries[], object?]> = [
      [[{ name: 'x', color: 'red', points: [[0, Number.NaN]] }]],
      [[{ name: 'x', color: 'red', points: [[1, 2], [2, 3]], interval: [[1, 3]] }]],
      [[{ name: 'x', color: 'red', points: [[1, 2]], interval: [[3, 1]] }]],
      [[{ name: 'x', color: 'red', points: [[0, 2]] }], { xScale: 'log' }],
      [[{ name: 'x', color: 'red', points: [[1, 2]] }, { name: 'x', color: 'blue', points: [[1, 3]] }]],
      [[{ name: 'x', color: 'red', points: [] }]]
    ]
    for (const [series, options] of bad) expect(() => lineChartSpec(series, options)).toThrowError(invalidArgument)
  })
})

describe('linePlot (SVG)', () => {
  it('renders well-formed SVG with the title, axis titles, legend labels and series colours as text', async () => {
    const title = 'FID <vs> steps & compute'
    const svg = await linePlot(SERIES, { title, xLabel: 'training steps', yLabel: 'FID (classifier)' })
    expectWellFormedSvg(svg)
    const words = texts(svg)
    for (const t of [title, 'training steps', 'FID (classifier)', 'monolith', 'ensemble top-1', 'reference']) {
      expect(words).toContain(t)
    }
    expect(words).toContain('2,000') // a tick label on x
    expect(svg).toContain('rgb(80,80,80)')
    expect(svg).toContain('#1f77b4')
    // One mark group per layer: error bars, the lines, the points.
    expect(svg).toMatch(/role-mark layer_0_\w*marks/)
    expect(svg).toMatch(/class="mark-line role-mark/)
  })

  it('renders the same spec the same way twice (figures are committed, so diffs must mean changes)', async () => {
    const spec = lineChartSpec(SERIES, { title: 't' })
    expect(await renderSvg(spec)).toBe(await renderSvg(spec))
  })
})
