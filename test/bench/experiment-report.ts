/**
 * Tables and plots from an experiment state directory (test/bench/experiment.ts): reads only
 * the files the experiment wrote, so it runs at any time (`--report`) on whatever is done.
 * Writes <state>/report.md, <state>/fid-vs-compute.png and <state>/ddpm-to-fm.png.
 */
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import { linePlot, type PlotSeries } from '../../src/eval/plot.js'
import type { EnsembleEvaluation, LossMatrix } from '../../src/eval/index.js'

interface EvalFile { configuration: string, step: number, trainingGflops: number, evaluation: EnsembleEvaluation }
interface MilestoneFile { model: string, step: number, heldOut: number[], seconds: number, loss?: number }
interface Settings { S: number, K: number, B: number, preset: string, ddpmClusters: number[], convertCluster: number, convertSteps: number, adalnSteps: number, evalSettings: { samples: number, steps: number, guidance: number, seed: number } }

const COLORS: Record<string, [number, number, number]> = {
  'homogeneous-fm': [31, 119, 180],
  'homogeneous-ddpm': [214, 39, 40],
  heterogeneous: [44, 160, 44],
  monolith: [80, 80, 80]
}

async function readJsonIfExists<T> (path: string): Promise<T | undefined> {
  return existsSync(path) ? JSON.parse(await readFile(path, 'utf8')) as T : undefined
}

export async function writeExperimentReport (state: string): Promise<void> {
  const settings = JSON.parse(await readFile(join(state, 'settings.json'), 'utf8')) as Settings
  const evalDir = join(state, 'eval')
  const files = existsSync(evalDir) ? await readdir(evalDir) : []
  const evals: EvalFile[] = []
  for (const f of files.filter(f => /^(homogeneous|heterogeneous|monolith)/.test(f))) evals.push(JSON.parse(await readFile(join(evalDir, f), 'utf8')))
  const lines: string[] = []
  const e = settings.evalSettings
  lines.push(`# Experiment report (${state})`, '')
  lines.push(`Preset ${settings.preset}, K = ${settings.K}, ${settings.S} steps of batch ${settings.B} per expert (monolith ${settings.K * settings.S}); DDPM clusters ${settings.ddpmClusters.join(', ')}.`)
  lines.push(`Evaluation: ${e.samples} samples per row (prompts cycling through the 10 classes), ${e.steps} Euler steps, guidance ${e.guidance}, seed ${e.seed}; FID against the full test split.`, '')

  lines.push('| configuration | routing | FID | diversity (mean +- std over prompts) | prompt accuracy | GFLOPs / sample | training TFLOPs |', '|---|---|---|---|---|---|---|')
  const order = ['monolith', 'homogeneous-fm', 'homogeneous-ddpm', 'heterogeneous', 'homogeneous-fm-blind', 'homogeneous-ddpm-blind', 'heterogeneous-blind']
  const routingOrder = ['full', 'top2', 'top1']
  const final = evals.filter(v => v.step === settings.S)
    .sort((a, b) => order.indexOf(a.configuration) - order.indexOf(b.configuration) || routingOrder.indexOf(a.evaluation.routing) - routingOrder.indexOf(b.evaluation.routing))
  for (const v of final) {
    const ev = v.evaluation
    lines.push(`| ${v.configuration} | ${v.configuration === 'monolith' ? '-' : ev.routing} | ${ev.fid.toFixed(2)} | ${ev.diversity.mean.toFixed(3)} +- ${ev.diversity.std.toFixed(3)} | ${(100 * ev.promptAccuracy.accuracy).toFixed(1)}% | ${ev.gflopsPerSample.toFixed(3)} | ${(v.trainingGflops / 1000).toFixed(2)} |`)
  }
  lines.push('')

  // FID against training compute: top-1 ensembles and the monolith at every milestone.
  const series: PlotSeries[] = []
  for (const name of order.filter(n => !n.endsWith('-blind'))) {
    const points = evals.filter(v => v.configuration === name && (name === 'monolith' || v.evaluation.routing === 'top1')).map(v => [v.trainingGflops / 1000, v.evaluation.fid] as [number, number])
    if (points.length > 0) series.push({ name: name === 'monolith' ? 'monolith' : `${name} top1`, color: COLORS[name], points })
  }
  if (series.length > 0) {
    await writeFile(join(state, 'fid-vs-compute.png'), linePlot(series, { title: `FID vs training compute (${settings.preset}, K=${settings.K}, ${e.samples} samples)`, xLabel: 'training compute (TFLOP)', yLabel: 'FID (classifier features)' }))
    lines.push('FID against training compute (top-1 routing for the ensembles):', '', '| configuration | step per expert | training TFLOPs | FID |', '|---|---|---|---|')
    for (const v of [...evals].filter(v => !v.configuration.endsWith('-blind') && (v.configuration === 'monolith' || v.evaluation.routing === 'top1')).sort((a, b) => order.indexOf(a.configuration) - order.indexOf(b.configuration) || a.step - b.step)) {
      lines.push(`| ${v.configuration} | ${v.step} | ${(v.trainingGflops / 1000).toFixed(2)} | ${v.evaluation.fid.toFixed(2)} |`)
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
    for (const f of (await readdir(dir)).filter(f => /^step-\d+\.json$/.test(f))) into.push(JSON.parse(await readFile(join(dir, f), 'utf8')))
    into.sort((a, b) => a.step - b.step)
  }
  const upTo = (list: MilestoneFile[]): MilestoneFile[] => list.filter(m => m.step <= settings.convertSteps)
  if (converted.length > 0) {
    const s = upTo(scratch)
    const target = s.find(m => m.step === settings.convertSteps)?.heldOut[0]
    const reach = target !== undefined ? converted.find(m => m.heldOut[0] <= target)?.step : undefined
    lines.push(`DDPM -> FM initialisation on cluster ${c} (held-out FM loss, ${settings.convertSteps} steps):`, '', '| step | FM from scratch | FM from DDPM |', '|---|---|---|')
    for (const m of converted) lines.push(`| ${m.step} | ${s.find(x => x.step === m.step)?.heldOut[0].toFixed(4) ?? '-'} | ${m.heldOut[0].toFixed(4)} |`)
    lines.push('', target !== undefined ? `From scratch reaches ${target.toFixed(4)} at step ${settings.convertSteps}; the converted expert reaches it at step ${reach ?? `> ${settings.convertSteps}`}.` : '', '')
    await writeFile(join(state, 'ddpm-to-fm.png'), linePlot([
      { name: 'FM from scratch', color: COLORS['homogeneous-fm'], points: s.map(m => [m.step, m.heldOut[0]]) },
      { name: 'FM from DDPM', color: COLORS['homogeneous-ddpm'], points: converted.map(m => [m.step, m.heldOut[0]]) }
    ], { title: `Held-out FM loss, cluster ${c}`, xLabel: 'training steps', yLabel: 'held-out loss' }))
  }

  // AdaLN-Single against AdaLN-Zero.
  const adaln = []
  for (const kind of ['single', 'zero']) {
    const v = await readJsonIfExists<{ params: { total: number, denoiser: number }, evaluation: EnsembleEvaluation, model: string, step: number }>(join(evalDir, `adaln-${kind}.step-${settings.adalnSteps}.json`))
    if (v !== undefined) {
      const heldOut = await readJsonIfExists<MilestoneFile>(join(state, 'experts', v.model, `step-${v.step}.json`))
      adaln.push({ kind, ...v, heldOut: heldOut?.heldOut[0] })
    }
  }
  if (adaln.length > 0) {
    lines.push(`AdaLN-Single vs AdaLN-Zero (FM, cluster ${c}, ${settings.adalnSteps} steps, FID against the test images of cluster ${c}):`, '', '| modulation | parameters (denoiser) | parameters (total) | held-out loss | FID | prompt accuracy |', '|---|---|---|---|---|---|')
    for (const a of adaln) lines.push(`| AdaLN-${a.kind === 'single' ? 'Single' : 'Zero'} | ${a.params.denoiser.toLocaleString('en-US')} | ${a.params.total.toLocaleString('en-US')} | ${a.heldOut?.toFixed(4) ?? '-'} | ${a.evaluation.fid.toFixed(2)} | ${(100 * a.evaluation.promptAccuracy.accuracy).toFixed(1)}% |`)
    lines.push('')
  }

  const matrix = await readJsonIfExists<LossMatrix & { monolith: number[] }>(join(evalDir, `loss-matrix.step-${settings.S}.json`))
  if (matrix !== undefined) {
    // Files written before the column count existed get it here, from the same losses.
    matrix.ownClusterBest ??= matrix.experts.filter((r, i) => matrix.experts.every((o, j) => j === i || o.objective !== r.objective || matrix.losses[j][r.cluster] > matrix.losses[i][r.cluster])).length
    lines.push(`Expert x cluster held-out loss (rows: experts, columns: held-out clusters; ${matrix.diagonalDominantRows}/${matrix.losses.length} rows have their minimum on their own cluster; on its own cluster's data, ${matrix.ownClusterBest}/${matrix.losses.length} experts beat every other expert of their objective):`, '')
    lines.push(`| expert | ${matrix.losses[0].map((_, j) => `cluster ${j}`).join(' | ')} |`, `|---|${matrix.losses[0].map(() => '---').join('|')}|`)
    matrix.losses.forEach((row, i) => lines.push(`| ${matrix.experts[i].objective} c${matrix.experts[i].cluster} | ${row.map((v, j) => j === matrix.experts[i].cluster ? `**${v.toFixed(4)}**` : v.toFixed(4)).join(' | ')} |`))
    lines.push(`| monolith (fm) | ${matrix.monolith.map(v => v.toFixed(4)).join(' | ')} |`, '')
  }

  for (const [file, what] of [['router-prompt.safetensors', 'Prompt router'], ['router.safetensors', 'Prompt-blind router']]) {
    if (!existsSync(join(state, file))) continue
    const { metadata } = decodeCheckpoint(await readFile(join(state, file)))
    type Buckets = Array<{ tMin: number, tMax: number, accuracy: number }>
    const extra = (metadata.extra ?? {}) as { evaluation?: { buckets: Buckets, unconditional?: Buckets, majority: number, promptBaseline?: number } }
    const ev = extra.evaluation
    if (ev === undefined) continue
    const row = (b: Buckets): string => b.map(x => `[${x.tMin.toFixed(1)}, ${x.tMax.toFixed(1)}) ${(100 * x.accuracy).toFixed(1)}%`).join(', ')
    lines.push(`${what} held-out accuracy by flow time: ${row(ev.buckets)}${ev.unconditional !== undefined ? `; with the null prompt: ${row(ev.unconditional)}` : ''}; majority baseline ${(100 * ev.majority).toFixed(1)}%${ev.promptBaseline !== undefined ? `, prompt baseline ${(100 * ev.promptBaseline).toFixed(1)}%` : ''}.`, '')
  }

  const seconds: Record<string, number> = {}
  const expertsDir = join(state, 'experts')
  if (existsSync(expertsDir)) {
    for (const name of await readdir(expertsDir)) {
      for (const f of (await readdir(join(expertsDir, name))).filter(f => /^step-\d+\.json$/.test(f))) {
        const m = JSON.parse(await readFile(join(expertsDir, name, f), 'utf8')) as MilestoneFile
        seconds[name] = (seconds[name] ?? 0) + m.seconds
      }
    }
  }
  const evalSeconds = evals.reduce((a, v) => a + v.evaluation.seconds, 0)
  lines.push(`Wall time: training ${Math.round(Object.values(seconds).reduce((a, b) => a + b, 0) / 60)} min (${Object.entries(seconds).map(([k, v]) => `${k} ${Math.round(v)} s`).join(', ')}); ensemble sampling + scoring ${Math.round(evalSeconds / 60)} min.`, '')
  await writeFile(join(state, 'report.md'), lines.join('\n'))
  console.log(lines.join('\n'))
}
