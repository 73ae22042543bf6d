/**
 * The experiment's table compares every model at one guidance scale (2). Classifier-free
 * guidance pushes p(x | c) away from the model's own unconditional p(x): for the monolith that is
 * the whole dataset, for an expert only its cluster, so the same scale guides the monolith harder.
 * This sweep scores the monolith and the top-1 FM ensemble of an experiment's state at several
 * scales, on the same seeds and sample count as the table, so each can be read at its best.
 *
 *   npm run bench test/bench/guidance-sweep.ts -- --state tmp/exp-mnist-k4 [--guidance 1,1.5,2,3]
 *     [--configurations monolith,homogeneous-fm,homogeneous-fm4x] [--steps-per-expert 2000] [--samples 1000]
 *
 * Each evaluation and its samples are kept in `<state>/guidance/`, named by configuration, steps
 * per expert, N and scale, with a grid of its samples (.png); a rerun skips what is there.
 * Precision and recall are against N test images (one fixed draw, as in the experiment report).
 * Guidance trades coverage for prompt accuracy, so the sweep also draws each model's frontier, FID
 * against prompt accuracy with one point per scale (`frontier.step-<S>.n-<N>.svg`): a model is
 * better where its line lies below the other's at the same accuracy. The frontier has every scale
 * scored so far at that S and N, and its data goes beside it (`.json`, in the format of docs/figures).
 */
import { existsSync } from 'node:fs'
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import { loadExpert } from '../../src/checkpoint/expert.js'
import { loadRouter } from '../../src/checkpoint/router.js'
import { loadDataset } from '../../src/data/index.js'
import { parseRouting } from '../../src/diffusion/routing.js'
import type { EnsembleMember } from '../../src/ensemble/index.js'
import {
  balancedPrompts, linePlot, loadClassifier, promptGrid, referenceStatistics, type PlotSeries
} from '../../src/eval/index.js'
import { strokeStatistics } from '../../src/eval/strokes.js'
import { initBackend } from '../../src/runtime/index.js'
import { coverageScorer, evaluateWithBootstrap } from './experiment-parts.js'

const { values: args } = parseArgs({
  options: {
    state: { type: 'string', default: 'tmp/exp-mnist-k4' },
    guidance: { type: 'string', default: '1,1.5,2,3' },
    'steps-per-expert': { type: 'string', default: '2000' },
    samples: { type: 'string', default: '1000' },
    /** monolith, homogeneous-fm, and homogeneous-fm<N>x (the FM experts at N x S steps, --fm-budget). */
    configurations: { type: 'string', default: 'monolith,homogeneous-fm' },
    bootstrap: { type: 'string', default: '200' },
    /** BLAS threads (0: every core); 1 when another run shares the two cores (see experiment.ts). */
    threads: { type: 'string', default: '0' }
  }
})
const state = args.state!
const S = Number(args['steps-per-expert'])
const samples = Number(args.samples)
const settings = JSON.parse(await readFile(join(state, 'settings.json'), 'utf8')) as {
  dataset: string, K: number, evalSettings: { steps: number, seed: number, guidance: number, samples: number }
}
const { K, dataset } = settings
const out = join(state, 'guidance')
await mkdir(out, { recursive: true })

await initBackend({ backend: 'native', ...(Number(args.threads) > 0 ? { threads: Number(args.threads) } : {}) })
const classifier = await loadClassifier(dataset)
const test = await loadDataset(`${dataset}:test`)
const reference = referenceStatistics(classifier, test)
const scoreCoverage = coverageScorer(classifier, test)

const checkpoint = async (model: string, step: number): Promise<Uint8Array> =>
  await readFile(join(state, 'experts', model, `step-${step}.safetensors`))
type Loaded = { members: EnsembleMember[], router?: string }
const fmEnsemble = (steps: number) => async (): Promise<Loaded> => ({
  members: await Promise.all(Array.from({ length: K }, async (_, c) => ({
    cluster: c, expert: loadExpert(decodeCheckpoint(await checkpoint(`fm-c${c}`, steps)))
  }))),
  router: 'router-prompt.safetensors'
})
function configuration (name: string): () => Promise<Loaded> {
  if (name === 'monolith') {
    return async () => ({
      members: [{ cluster: 0, expert: loadExpert(decodeCheckpoint(await checkpoint('monolith-fm', K * S))) }]
    })
  }
  const budget = /^homogeneous-fm(?:(\d+)x)?$/.exec(name)
  if (budget === null) throw new Error(`unknown configuration ${name}`)
  return fmEnsemble(S * Number(budget[1] ?? 1))
}
const configurations = Object.fromEntries(args.configurations!.split(',').map(n => [n, configuration(n)]))

/** The first 8 samples of each prompt, as the experiment's grids show them. */
function sampleGrid (pixels: Uint8Array): Uint8Array {
  const n = pixels.length / (test.width * test.height * test.channels)
  const images = Float32Array.from(pixels, b => b / 127.5 - 1)
  const shape: [number, number, number, number] = [n, test.height, test.width, test.channels]
  return promptGrid(images, shape, balancedPrompts(classifier.info.classNames, n), 8)
}

const percent = (x: number): string => `${(100 * x).toFixed(1)}%`
console.log(`| configuration | guidance | FID +- bootstrap std | prompt accuracy | precision / recall |` +
  `${dataset === 'mnist' ? ' in one stroke |' : ''}`)
console.log(`|---|---|---|---|---|${dataset === 'mnist' ? '---|' : ''}`)
for (const [name, load] of Object.entries(configurations)) {
  for (const guidance of args.guidance!.split(',').map(Number)) {
    const file = join(out, `${name}.step-${S}.n-${samples}.guidance-${guidance}.json`)
    const samplesPath = file.replace(/\.json$/, '.u8')
    // The table's own row, when it is this very evaluation (same scale, N and seeds): reused, not redrawn.
    const tableRow = join(state, 'eval', `${name}.${name === 'monolith' ? 'full' : 'top1'}.step-${S}`)
    const isTableRow = guidance === settings.evalSettings.guidance && samples === settings.evalSettings.samples
    if (!existsSync(file) && isTableRow && existsSync(`${tableRow}.json`)) {
      const { evaluation, bootstrap } = JSON.parse(await readFile(`${tableRow}.json`, 'utf8'))
      await copyFile(`${tableRow}.u8`, samplesPath)
      await writeFile(file, JSON.stringify({ evaluation, bootstrap }, null, 2) + '\n')
    }
    if (!existsSync(file)) {
      const { members, router: routerFile } = await load()
      const router = routerFile !== undefined ? loadRouter(decodeCheckpoint(await readFile(join(state, routerFile))))
        : undefined
      try {
        const routing = parseRouting(router !== undefined ? 'top1' : 'full')
        const result = await evaluateWithBootstrap({
          members, router, tokenizer: members[0].expert.tokenizer, routing,
          classifier, reference, samples, steps: settings.evalSettings.steps, guidance,
          seed: settings.evalSettings.seed, resamples: Number(args.bootstrap), samplesPath
        })
        await writeFile(file, JSON.stringify(result, null, 2) + '\n')
      } finally {
        router?.dispose()
        for (const m of members) m.expert.dispose()
      }
    }
    const { evaluation, bootstrap } = JSON.parse(await readFile(file, 'utf8'))
    const pixels = new Uint8Array(await readFile(samplesPath))
    const gridPath = file.replace(/\.json$/, '.png')
    if (!existsSync(gridPath)) await writeFile(gridPath, sampleGrid(pixels))
    const pr = scoreCoverage(pixels)
    const fid = `${evaluation.fid.toFixed(2)}${bootstrap !== undefined ? ` +- ${bootstrap.fid.std.toFixed(2)}` : ''}`
    const cells = [name, guidance, fid, percent(evaluation.promptAccuracy.accuracy),
      `${percent(pr.precision)} / ${percent(pr.recall)}`]
    if (dataset === 'mnist') cells.push(percent(strokeStatistics(pixels, 28).whole))
    console.log(`| ${cells.join(' | ')} |`)
  }
}

// The frontier has every scale scored so far at this S and N (earlier runs' too), not just this run's; its
// data goes beside the plot in docs/figures' format, so a figure for the docs is a copy, not a transcription.
const colors = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd']
const scored = await readdir(out)
const frontier: PlotSeries[] = []
const scales: string[] = []
for (const name of Object.keys(configurations)) {
  const pattern = new RegExp(`^${name}\\.step-${S}\\.n-${samples}\\.guidance-([0-9.]+)\\.json$`)
  const guidances = scored.flatMap(f => pattern.exec(f)?.[1] ?? []).sort((a, b) => Number(a) - Number(b))
  const line: PlotSeries = { name, color: colors[frontier.length % colors.length], points: [], interval: [] }
  for (const guidance of guidances) {
    const file = join(out, `${name}.step-${S}.n-${samples}.guidance-${guidance}.json`)
    const { evaluation, bootstrap } = JSON.parse(await readFile(file, 'utf8'))
    const std = bootstrap?.fid.std ?? 0
    line.points.push([100 * evaluation.promptAccuracy.accuracy, evaluation.fid])
    line.interval!.push([evaluation.fid - std, evaluation.fid + std])
  }
  frontier.push(line)
  scales.push(`${name} ${guidances.join(', ')}`)
}
const frontierPath = join(out, `frontier.step-${S}.n-${samples}`)
const axes = {
  title: `${dataset}, K = ${K}: FID against prompt accuracy, one point per guidance scale (N = ${samples})`,
  xLabel: 'prompt accuracy (%)', yLabel: 'FID (+- bootstrap std)'
}
await writeFile(`${frontierPath}.svg`, await linePlot(frontier, axes))
const source = `guidance-sweep.ts on ${state}; guidance by series, in point order: ${scales.join('; ')}`
await writeFile(`${frontierPath}.json`, JSON.stringify({ source, ...axes, series: frontier }, null, 2) + '\n')
console.log(`frontier: ${frontierPath}.svg (data: .json)`)
