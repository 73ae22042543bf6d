import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildFigures, type Figure } from '../bench/figures.js'

const FIGURE: Figure = {
  source: 'a test',
  title: 'Loss against steps',
  xLabel: 'steps',
  yLabel: 'loss',
  series: [
    { name: 'scratch', color: '#1f77b4', points: [[25, 1.6], [50, 1.27]] },
    { name: 'converted', color: [214, 39, 40], points: [[25, 1.36], [50, 0.94]], interval: [[1.3, 1.4], [0.9, 1]] }
  ]
}

describe('npm run figures (test/bench/figures.ts)', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'hddm-figures-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('writes one SVG per figure file into a new folder, and skips files that are not JSON', async () => {
    const figures = join(dir, 'figures')
    const out = join(dir, 'out', 'img')
    await mkdir(figures)
    await writeFile(join(figures, 'b-loss.json'), JSON.stringify(FIGURE))
    await writeFile(join(figures, 'a-log.json'), JSON.stringify({ ...FIGURE, title: 'On a log axis', xScale: 'log' }))
    await writeFile(join(figures, 'notes.txt'), 'not a figure')
    const written = await buildFigures({ figures, out })
    expect(written).toEqual([join(out, 'a-log.svg'), join(out, 'b-loss.svg')])
    expect((await readdir(out)).sort()).toEqual(['a-log.svg', 'b-loss.svg'])
    const svg = await readFile(join(out, 'b-loss.svg'), 'utf8')
    expect(svg.startsWith('<svg ')).toBe(true)
    for (const text of ['Loss against steps', 'steps', 'loss', 'scratch', 'converted']) {
      expect(svg).toContain(`>${text}<`)
    }
    expect(await readFile(join(out, 'a-log.svg'), 'utf8')).toContain('>On a log axis<')
  })

  it('refuses a figure file that does not match the schema (naming it), and a folder without figures', async () => {
    const { series, ...noSeries } = FIGURE
    await writeFile(join(dir, 'broken.json'), JSON.stringify({ ...noSeries, colour: 'red' }))
    const error = expect.objectContaining({
      name: 'InvalidArgumentError', message: expect.stringMatching(/broken\.json/)
    })
    await expect(buildFigures({ figures: dir, out: join(dir, 'out') })).rejects.toThrowError(error)
    const empty = join(dir, 'empty')
    await mkdir(empty)
    await expect(buildFigures({ figures: empty, out: dir })).rejects.toThrowError(
      expect.objectContaining({ name: 'InvalidArgumentError' }))
  })

  it('the committed docs/img plots are what docs/figures renders to, and the docs show each of them', async () => {
    const written = await buildFigures({ figures: 'docs/figures', out: dir })
    expect(written.length).toBeGreaterThan(0)
    const docs = (await Promise.all((await readdir('docs')).filter(f => f.endsWith('.md'))
      .map(async f => await readFile(join('docs', f), 'utf8')))).join('\n')
    for (const path of written) {
      const name = path.slice(dir.length + 1)
      // Stale figure: run `npm run figures` and commit docs/img.
      expect(await readFile(join('docs/img', name), 'utf8'), name).toBe(await readFile(path, 'utf8'))
      expect(docs, name).toContain(`(img/${name})`)
    }
  })
})
