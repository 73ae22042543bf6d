import { describe, expect, it } from 'vitest'
import { loadDataset } from '../../src/data/index.js'
import { strokePieces, strokeStatistics } from '../../src/eval/strokes.js'

/** A 6 x 6 image from rows of '#' (ink, 255), '+' (faint, 100) and '.' (0). */
function image (rows: string[]): Uint8Array {
  return Uint8Array.from(rows.join('').split(''), (c) => c === '#' ? 255 : c === '+' ? 100 : 0)
}

describe('stroke statistics', () => {
  it('counts 4-connected pieces of ink: diagonal contact does not join, faint pixels are not ink', () => {
    expect(strokePieces(image(['......', '.####.', '.#..#.', '.####.', '......', '......']), 6)).toBe(1)
    expect(strokePieces(image(['#.....', '.#....', '..#...', '......', '....##', '....##']), 6)).toBe(4)
    expect(strokePieces(image(['#+#...', '......', '......', '......', '......', '......']), 6)).toBe(2)
    expect(strokePieces(image(['......', '......', '......', '......', '......', '......']), 6)).toBe(0)
  })

  it('scores a ring whole and a speckle of lone pixels broken and isolated', () => {
    const ring = image(['......', '.####.', '.#..#.', '.####.', '......', '......'])
    const speckle = image(['#.#...', '......', '#.#...', '......', '....#.', '......'])
    const s = strokeStatistics(Uint8Array.from([...ring, ...speckle]), 6)
    expect(s.images).toBe(2)
    expect(s.whole).toBe(0.5)
    expect(s.meanPieces).toBe(3)
    expect(s.isolatedPerImage).toBe(2.5)
    expect(s.inkPerImage).toBe(7.5)   // 10 pixels of ring, 5 of speckle
  })

  it('finds most MNIST test digits in one piece', async () => {
    const test = await loadDataset('mnist:test')
    const s = strokeStatistics(test.pixels.subarray(0, 1000 * 28 * 28), 28)
    expect(s.whole).toBeGreaterThan(0.85)
    expect(s.meanPieces).toBeLessThan(1.3)
  })
})
