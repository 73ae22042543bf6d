import { describe, expect, it } from 'vitest'
import { decodePng } from '../../src/data/png.js'
import { linePlot, niceTicks } from '../../src/eval/plot.js'

describe('linePlot', () => {
  it('draws every series in its colour on a white canvas of the asked size', () => {
    const png = decodePng(linePlot([
      { name: 'a', color: [200, 0, 0], points: [[0, 10], [1, 5], [2, 3]] },
      { name: 'b', color: [0, 0, 200], points: [[0, 8], [2, 6]] }
    ], { width: 300, height: 200, title: 'FID vs compute', xLabel: 'TFLOP', yLabel: 'FID' }))
    expect([png.width, png.height, png.channels]).toEqual([300, 200, 3])
    const count = (r: number, g: number, b: number): number => {
      let n = 0
      for (let i = 0; i < png.pixels.length; i += 3) {
        if (png.pixels[i] === r && png.pixels[i + 1] === g && png.pixels[i + 2] === b) n++
      }
      return n
    }
    expect(count(200, 0, 0)).toBeGreaterThan(100)
    expect(count(0, 0, 200)).toBeGreaterThan(100)
    expect(count(255, 255, 255)).toBeGreaterThan(300 * 200 / 2)
    expect(count(0, 0, 0)).toBeGreaterThan(200)
  })

  it('puts ticks on round numbers and refuses non-finite points', () => {
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10])
    expect(niceTicks(0.13, 0.61, 5)).toEqual([0.2, 0.3, 0.4, 0.5, 0.6])
    expect(() => linePlot([{ name: 'x', color: [0, 0, 0], points: [[0, Number.NaN]] }])).toThrow(/finite/)
  })
})
