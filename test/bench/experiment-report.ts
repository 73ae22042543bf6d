/**
 * Tables and plots from an experiment state directory (test/bench/experiment.ts): reads only
 * the files the experiment wrote, so it runs at any time (`--report`) on whatever is done.
 * Writes <state>/report.md, <state>/fid-vs-compute.svg and <state>/ddpm-to-fm.svg.
 */
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import { loadDataset } from '../../src/data/index.js'
import { linePlot, type PlotSeries } from '../../src/eval/plot.js'
import { strokeStatistics } from '../../src/eval/strokes.js'
import { loadClassifier, type EnsembleEvaluation, type LossMatrix, type PrecisionRecall } from '../../src/eval/index.js'
import { coverageScorer } from './experiment-parts.js'

interface Interval { lo: number, hi: number, mean: number, std: number }
interface EvalFile {
  configuration: string
  step: number
  trainingGflops: number
  evaluation: EnsembleEvaluation
  /** A bootstrap over the evaluation's samples (runs before issue 14 have none). */
  bootstrap?: { resamples: number, fid: Interval, promptAccuracy: Interval }
}
interface MilestoneFile { model: string, step: number, heldOut: number[], seconds: number, loss?: number }
interface Settings {
  dataset: string
  S: number
  K: number
  B: number
  preset: string
  ddpmClusters: number[]
  convertCluster: number
  convertSteps: number
  adalnSteps: number
  ddpmBudget?: number
  evalSettings: { samples: number, steps: number, guidance: number, seed: number }
}
interface AdaLNFile {
  params: { total: number, denoiser: number }
  evaluation: EnsembleEvaluation
  model: string
  step: number
}
/** A router's held-out accuracy by flow time, as its checkpoint's `extra.evaluation` holds it. */
type Buckets = Array<{ tMin: number, tMax: number, accuracy: number }>
interface RouterEvaluation { buckets: Buckets, unconditional?: Buckets, majority: number, promptBaseline?: number }

const COLORS: Record<string, [number, number, number]> = {
  'homogeneous-fm': [31, 119, 180],
  'homogeneous-ddpm': [214, 39, 40],
  heterogeneous: [44, 160, 44],
  monolith: [80, 80, 80]
}
/** The rows of experts at their own budget (`-ddpm3x`, `-fm4x`) have colours of their own. */
function colorOf (name: string): [number, number, number] {
  if (COLORS[name] !== undefined) return COLORS[name]
  if (name.startsWith('homogeneous-fm')) return [23, 190, 207]
  return name.startsWith('heterogeneous') ? [148, 103, 189] : [255, 127, 14]
}

async function readJsonIfExists<T> (path: string): Promise<T | undefined> {
  return existsSync(path) ? JSON.parse(await readFile(path, 'utf8')) as T : undefined
}

/** The milestone files (step-N.json) of a model's directory. */
async function milestoneFiles (dir: string): Promise<string[]> {
  return (await readdir(dir)).filter(f => /^step-\d+\.json$/.test(f))
}

/** A share as a percentage with one decimal: 0.4567 -> '45.7%'. */
function percent (share: number): string {
  return `${(100 * share).toFixed(1)}%`
}

/** An evaluation's FID against the monolith's: the difference, its z over both bootstraps, significance. */
function fidDifference (v: EvalFile, monolith: EvalFile): string {
  const difference = v.evaluation.fid - monolith.evaluation.fid
  const sign = difference >= 0 ? '+' : ''
  if (v.bootstrap === undefined || monolith.bootstrap === undefined) return `${sign}${difference.toFixed(2)}`
  const z = difference / Math.hypot(v.bootstrap.fid.std, monolith.bootstrap.fid.std)
  const verdict = Math.abs(z) > 1.96 ? (difference < 0 ? 'better' : 'worse') : 'not significant'
  return `${sign}${difference.toFixed(2)} (z ${z.toFixed(1)}, ${verdict})`
}

export async function writeExperimentReport (state: string): Promise<void> {
  const settings = JSON.parse(await readFile(join(state, 'settings.json'), 'utf8')) as Settings
  const evalDir = join(state, 'eval')
  const files = existsSync(evalDir) ? await readdir(evalDir) : []
  const evals: EvalFile[] = []
  const configurationFiles = files.filter(f => /^(homogeneous|heterogeneous|monolith).*\.json$/.test(f))
  /**
   * Digits in one stroke, from the samples kept beside each evaluation (`<name>.u8`, 28 x 28).
   * MNIST only: a garment is one piece of ink whether it is drawn well or not.
   */
  const whole = new Map<EvalFile, number>()
  const coverage = new Map<EvalFile, PrecisionRecall>()
  const testSet = await loadDataset(`${settings.dataset}:test`)
  const scoreCoverage = coverageScorer(await loadClassifier(settings.dataset), testSet)
  for (const f of configurationFiles) {
    const v = JSON.parse(await readFile(join(evalDir, f), 'utf8')) as EvalFile
    evals.push(v)
    const samples = join(evalDir, f.replace(/\.json$/, '.u8'))
    if (!existsSync(samples)) continue
    const pixels = new Uint8Array(await readFile(samples))
    if (v.step === settings.S) coverage.set(v, scoreCoverage(pixels))
    if (settings.dataset === 'mnist') whole.set(v, strokeStatistics(pixels, 28).whole)
  }
  const lines: string[] = []
  const e = settings.evalSettings
  lines.push(`# Experiment report (${state})`, '')
  const budget = `${settings.S} steps of batch ${settings.B} per expert (monolith ${settings.K * settings.S})`
  const ddpmClusters = settings.ddpmClusters.join(', ')
  lines.push(`Preset ${settings.preset}, K = ${settings.K}, ${budget}; DDPM clusters ${ddpmClusters}.`)
  const perRow = `${e.samples} samples per row (prompts cycling through the 10 classes)`
  const sampler = `${e.steps} Euler steps, guidance ${e.guidance}, seed ${e.seed}`
  lines.push(`Evaluation: ${perRow}, ${sampler}; FID against the full test split.`, '')

  const header = '| configuration | routing | FID +- bootstrap std | vs monolith | diversity (mean +- std over ' +
    'prompts) | prompt accuracy (90%) | precision / recall | in one stroke | GFLOPs / sample | training TFLOPs |'
  lines.push(header, '|---|---|---|---|---|---|---|---|---|---|')
  const ownBudget = settings.ddpmBudget !== undefined && settings.ddpmBudget > 1 ? `ddpm${settings.ddpmBudget}x` : ''
  const order = [
    'monolith', 'homogeneous-fm', 'homogeneous-ddpm', 'heterogeneous',
    'homogeneous-fm-blind', 'homogeneous-ddpm-blind', 'heterogeneous-blind',
    `homogeneous-${ownBudget}`, `heterogeneous-${ownBudget}`
  ]
  // The FM experts' own budget (`homogeneous-fm4x`, --fm-budget) is not a setting: found by name.
  const fmBudgetRows = [...new Set(evals.map(v => v.configuration))].filter(n => /^homogeneous-fm\d+x$/.test(n))
  order.push(...fmBudgetRows.sort())
  const routingOrder = ['full', 'top2', 'threshold', 'top1']
  const configurationRank = (v: EvalFile): number => order.indexOf(v.configuration)
  const routingRank = (v: EvalFile): number => routingOrder.indexOf(v.evaluation.routing.split(':')[0])
  const final = evals.filter(v => v.step === settings.S)
    .sort((a, b) => configurationRank(a) - configurationRank(b) || routingRank(a) - routingRank(b))
  const monolith = final.find(v => v.configuration === 'monolith')
  for (const v of final) {
    const ev = v.evaluation
    const routing = v.configuration === 'monolith' ? '-' : ev.routing
    const fidStd = v.bootstrap !== undefined ? ` +- ${v.bootstrap.fid.std.toFixed(2)}` : ''
    const fid = `${ev.fid.toFixed(2)}${fidStd}`
    const versus = v === monolith || monolith === undefined ? '-' : fidDifference(v, monolith)
    const diversity = `${ev.diversity.mean.toFixed(3)} +- ${ev.diversity.std.toFixed(3)}`
    const pa = v.bootstrap?.promptAccuracy
    const accuracy90 = pa !== undefined ? ` (${percent(pa.lo)}-${percent(pa.hi)})` : ''
    const accuracy = percent(ev.promptAccuracy.accuracy) + accuracy90
    const gflops = ev.gflopsPerSample.toFixed(3)
    const tflops = (v.trainingGflops / 1000).toFixed(2)
    const oneStroke = whole.has(v) ? percent(whole.get(v) as number) : '-'
    const pr = coverage.get(v)
    const precisionRecallCell = pr !== undefined ? `${percent(pr.precision)} / ${percent(pr.recall)}` : '-'
    const cells = [v.configuration, routing, fid, versus, diversity, accuracy, precisionRecallCell, oneStroke, gflops,
      tflops]
    lines.push(`| ${cells.join(' | ')} |`)
  }
  lines.push('', '"vs monolith": the FID difference and its z = difference / sqrt(std_a^2 + std_b^2) over the two ' +
    'bootstraps (independent sample sets); |z| > 1.96 is marked significant at 5%. Names ending in ' +
    `${ownBudget !== '' ? `"-${ownBudget}" have DDPM experts trained ${settings.ddpmBudget ?? ''}x longer (outside ` +
    'equal compute); names ending in ' : ''}"-blind" use the prompt-blind router (the paper's). ` +
    (fmBudgetRows.length > 0 ? `${fmBudgetRows.join(', ')}: FM experts trained that many times S steps (at ` +
      `${settings.K}x each has the monolith's updates: equal wall-clock, ${settings.K}x the compute). ` : '') +
    '"In one stroke" (MNIST only): the share of samples whose ink is one 4-connected piece (src/eval/strokes.ts; ' +
    '91.5% of MNIST\'s test digits), which FID on the classifier\'s features barely sees. ' +
    '"Precision / recall" (Kynkaanniemi et al. 2019, k = 3, against as many test images, one fixed draw; real ' +
    'training images score about 87% / 87%): the share of samples inside the real images\' feature manifold, and ' +
    'of real images inside the samples\'.', '')

  // FID against training compute: top-1 ensembles and the monolith at every milestone.
  const series: PlotSeries[] = []
  const onCurve = (v: EvalFile): boolean => v.configuration === 'monolith' || v.evaluation.routing === 'top1'
  for (const name of order.filter(n => !n.endsWith('-blind'))) {
    const curve = evals.filter(v => v.configuration === name && onCurve(v))
    const points = curve.map(v => [v.trainingGflops / 1000, v.evaluation.fid] as [number, number])
    const label = name === 'monolith' ? 'monolith' : `${name} top1`
    if (points.length > 0) series.push({ name: label, color: colorOf(name), points })
  }
  if (series.length > 0) {
    const title = `FID vs training compute (${settings.preset}, K=${settings.K}, ${e.samples} samples)`
    const axes = { xLabel: 'training compute (TFLOP)', yLabel: 'FID (classifier features)' }
    const plot = await linePlot(series, { title, ...axes })
    await writeFile(join(state, 'fid-vs-compute.svg'), plot)
    lines.push('FID against training compute (top-1 routing for the ensembles):', '')
    lines.push('| configuration | step per expert | training TFLOPs | FID |', '|---|---|---|---|')
    const curves = evals.filter(v => !v.configuration.endsWith('-blind') && onCurve(v))
      .sort((a, b) => configurationRank(a) - configurationRank(b) || a.step - b.step)
    for (const v of curves) {
      const tflops = (v.trainingGflops / 1000).toFixed(2)
      lines.push(`| ${v.configuration} | ${v.step} | ${tflops} | ${v.evaluation.fid.toFixed(2)} |`)
    }
    lines.push('')
  }

  // DDPM -> FM against FM from scratch: held-out loss by step.
  const c = settings.convertCluster
  const scratch: MilestoneFile[] = []
  const converted: MilestoneFile[] = []
  for (const [name, into] of [[`fm-c${c}`, scratch], [`fm-from-ddpm-c${c}`, converted]] as const) {
    const dir = join(state, 'experts', name)
    if (!existsSync(dir)) continue
    for (const f of await milestoneFiles(dir)) into.push(JSON.parse(await readFile(join(dir, f), 'utf8')))
    into.sort((a, b) => a.step - b.step)
  }
  const upTo = (list: MilestoneFile[]): MilestoneFile[] => list.filter(m => m.step <= settings.convertSteps)
  if (converted.length > 0) {
    const s = upTo(scratch)
    const target = s.find(m => m.step === settings.convertSteps)?.heldOut[0]
    const reach = target !== undefined ? converted.find(m => m.heldOut[0] <= target)?.step : undefined
    lines.push(`DDPM -> FM initialisation on cluster ${c} (held-out FM loss, ${settings.convertSteps} steps):`, '')
    lines.push('| step | FM from scratch | FM from DDPM |', '|---|---|---|')
    for (const m of converted) {
      const fromScratch = s.find(x => x.step === m.step)?.heldOut[0].toFixed(4) ?? '-'
      lines.push(`| ${m.step} | ${fromScratch} | ${m.heldOut[0].toFixed(4)} |`)
    }
    let comparison = ''
    if (target !== undefined) {
      const reached = `the converted expert reaches it at step ${reach ?? `> ${settings.convertSteps}`}`
      comparison = `From scratch reaches ${target.toFixed(4)} at step ${settings.convertSteps}; ${reached}.`
    }
    lines.push('', comparison, '')
    await writeFile(join(state, 'ddpm-to-fm.svg'), await linePlot([
      { name: 'FM from scratch', color: COLORS['homogeneous-fm'], points: s.map(m => [m.step, m.heldOut[0]]) },
      { name: 'FM from DDPM', color: COLORS['homogeneous-ddpm'], points: converted.map(m => [m.step, m.heldOut[0]]) }
    ], { title: `Held-out FM loss, cluster ${c}`, xLabel: 'training steps', yLabel: 'held-out loss' }))
  }

  // AdaLN-Single against AdaLN-Zero.
  const adaln = []
  for (const kind of ['single', 'zero']) {
    const v = await readJsonIfExists<AdaLNFile>(join(evalDir, `adaln-${kind}.step-${settings.adalnSteps}.json`))
    if (v !== undefined) {
      const heldOut = await readJsonIfExists<MilestoneFile>(join(state, 'experts', v.model, `step-${v.step}.json`))
      adaln.push({ kind, ...v, heldOut: heldOut?.heldOut[0] })
    }
  }
  if (adaln.length > 0) {
    const study = `FM, cluster ${c}, ${settings.adalnSteps} steps, FID against the test images of cluster ${c}`
    lines.push(`AdaLN-Single vs AdaLN-Zero (${study}):`, '')
    lines.push(
      '| modulation | parameters (denoiser) | parameters (total) | held-out loss | FID | prompt accuracy |',
      '|---|---|---|---|---|---|'
    )
    for (const a of adaln) {
      const modulation = `AdaLN-${a.kind === 'single' ? 'Single' : 'Zero'}`
      const denoiser = a.params.denoiser.toLocaleString('en-US')
      const total = a.params.total.toLocaleString('en-US')
      const heldOut = a.heldOut?.toFixed(4) ?? '-'
      const fid = a.evaluation.fid.toFixed(2)
      const accuracy = percent(a.evaluation.promptAccuracy.accuracy)
      lines.push(`| ${modulation} | ${denoiser} | ${total} | ${heldOut} | ${fid} | ${accuracy} |`)
    }
    lines.push('')
  }

  const matrixFile = join(evalDir, `loss-matrix.step-${settings.S}.json`)
  const matrix = await readJsonIfExists<LossMatrix & { monolith?: number[] }>(matrixFile)
  if (matrix !== undefined) {
    const { experts, losses } = matrix
    // Files written before the column count existed get it here, from the same losses.
    const beatsPeersOnOwnCluster = (i: number): boolean => {
      const { cluster, objective } = experts[i]
      return experts.every((o, j) => j === i || o.objective !== objective || losses[j][cluster] > losses[i][cluster])
    }
    matrix.ownClusterBest ??= experts.filter((_, i) => beatsPeersOnOwnCluster(i)).length
    const axes = 'rows: experts, columns: held-out clusters'
    const diagonal = `${matrix.diagonalDominantRows}/${losses.length} rows have their minimum on their own cluster`
    const ownBest = `${matrix.ownClusterBest}/${losses.length} experts beat every other expert of their objective`
    lines.push(`Expert x cluster held-out loss (${axes}; ${diagonal}; on its own cluster's data, ${ownBest}):`, '')
    const clusters = losses[0].map((_, j) => `cluster ${j}`)
    lines.push(`| expert | ${clusters.join(' | ')} |`, `|---|${clusters.map(() => '---').join('|')}|`)
    losses.forEach((row, i) => {
      const { objective, cluster } = experts[i]
      const cells = row.map((v, j) => j === cluster ? `**${v.toFixed(4)}**` : v.toFixed(4))
      lines.push(`| ${objective} c${cluster} | ${cells.join(' | ')} |`)
    })
    const monolithRow = matrix.monolith?.map(v => v.toFixed(4)).join(' | ')
    if (monolithRow !== undefined) lines.push(`| monolith (fm) | ${monolithRow} |`)
    lines.push('')
  }

  const routers = [['router-prompt.safetensors', 'Prompt router'], ['router.safetensors', 'Prompt-blind router']]
  for (const [file, what] of routers) {
    if (!existsSync(join(state, file))) continue
    const { metadata } = decodeCheckpoint(await readFile(join(state, file)))
    const extra = (metadata.extra ?? {}) as { evaluation?: RouterEvaluation }
    const ev = extra.evaluation
    if (ev === undefined) continue
    const bucket = (x: Buckets[number]): string => `[${x.tMin.toFixed(1)}, ${x.tMax.toFixed(1)}) ${percent(x.accuracy)}`
    const row = (b: Buckets): string => b.map(x => bucket(x)).join(', ')
    const nullPrompt = ev.unconditional !== undefined ? `; with the null prompt: ${row(ev.unconditional)}` : ''
    const promptBaseline = ev.promptBaseline !== undefined ? `, prompt baseline ${percent(ev.promptBaseline)}` : ''
    const baselines = `majority baseline ${percent(ev.majority)}${promptBaseline}`
    lines.push(`${what} held-out accuracy by flow time: ${row(ev.buckets)}${nullPrompt}; ${baselines}.`, '')
  }

  const seconds: Record<string, number> = {}
  const expertsDir = join(state, 'experts')
  if (existsSync(expertsDir)) {
    for (const name of await readdir(expertsDir)) {
      for (const f of await milestoneFiles(join(expertsDir, name))) {
        const m = JSON.parse(await readFile(join(expertsDir, name, f), 'utf8')) as MilestoneFile
        seconds[name] = (seconds[name] ?? 0) + m.seconds
      }
    }
  }
  const evalSeconds = evals.reduce((a, v) => a + v.evaluation.seconds, 0)
  const trainingMinutes = Math.round(Object.values(seconds).reduce((a, b) => a + b, 0) / 60)
  const perModel = Object.entries(seconds).map(([k, v]) => `${k} ${Math.round(v)} s`).join(', ')
  const scoring = `ensemble sampling + scoring ${Math.round(evalSeconds / 60)} min`
  lines.push(`Wall time: training ${trainingMinutes} min (${perModel}); ${scoring}.`, '')
  await writeFile(join(state, 'report.md'), lines.join('\n'))
  console.log(lines.join('\n'))
}
