/**
 * `npm run figures`: rebuilds every plot of the docs, docs/img/<name>.svg, from its data file
 * docs/figures/<name>.json (title, axes, series; `source` says where the numbers come from, which
 * is usually the docs/RESULTS.md table next to the figure: change both together). Sample grids
 * are photos of digits, not plots, and stay PNG files written by the runs that draw them.
 *
 *   npm run figures                                     # docs/figures/*.json -> docs/img/*.svg
 *   npm run figures -- --figures <dir> --out <dir>
 *
 * It lives beside the benches that produce those numbers (and is type-checked with them), not in
 * src/: it is a docs tool, not part of the library.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { z } from 'zod'
import { InvalidArgumentError } from '../../src/hddm-error.js'
import { linePlot } from '../../src/eval/plot.js'

const pair = z.tuple([z.number(), z.number()])
const byte = z.int().min(0).max(255)

const seriesSchema = z.strictObject({
  name: z.string().min(1),
  /** A CSS colour or RGB 0-255. */
  color: z.union([z.string().min(1), z.tuple([byte, byte, byte])]),
  points: z.array(pair).min(1),
  interval: z.array(pair).optional(),
  intervalMark: z.enum(['bars', 'band']).optional(),
  markersOnly: z.boolean().optional()
})

/** One figure's data file. */
export const figureSchema = z.strictObject({
  /** Where the numbers come from (a table, a state directory); not drawn. */
  source: z.string().optional(),
  title: z.string().min(1),
  xLabel: z.string().min(1),
  yLabel: z.string().min(1),
  xScale: z.enum(['linear', 'log']).optional(),
  xTicks: z.array(z.number()).min(1).optional(),
  xRange: pair.optional(),
  yRange: pair.optional(),
  width: z.int().positive().optional(),
  height: z.int().positive().optional(),
  series: z.array(seriesSchema).min(1)
})
export type Figure = z.infer<typeof figureSchema>

export interface BuildFiguresOptions {
  /** Folder of <name>.json figure files. */
  figures: string
  /** Where <name>.svg goes (created if missing). */
  out: string
}

/** Renders every figure file of `figures` into `out`; returns the SVG paths in name order. */
export async function buildFigures ({ figures, out }: BuildFiguresOptions): Promise<string[]> {
  const files = (await readdir(figures)).filter(f => f.endsWith('.json')).sort()
  if (files.length === 0) throw new InvalidArgumentError(`${figures} has no figure (.json) files`)
  await mkdir(out, { recursive: true })
  const written: string[] = []
  for (const file of files) {
    const parsed = figureSchema.safeParse(JSON.parse(await readFile(join(figures, file), 'utf8')))
    if (!parsed.success) throw new InvalidArgumentError(`${file}: ${z.prettifyError(parsed.error)}`)
    const { source, series, ...options } = parsed.data
    const path = join(out, `${basename(file, '.json')}.svg`)
    await writeFile(path, await linePlot(series, options))
    written.push(path)
  }
  return written
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: { figures: { type: 'string', default: 'docs/figures' }, out: { type: 'string', default: 'docs/img' } }
  })
  for (const path of await buildFigures({ figures: values.figures, out: values.out })) console.log(path)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
