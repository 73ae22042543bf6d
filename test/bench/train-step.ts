/**
 * Training-step throughput of the DiT expert on every CPU path, against PyTorch in the same run.
 *
 *   npm run bench test/bench/train-step.ts [-- --steps 5 --rounds 3 --presets small,medium --batch 64]
 *
 * Each configuration runs in its own child process, one after the other (clean peak RSS, no
 * two measurements sharing the cores): PyTorch (test/bench/dit_reference.py, Debian's
 * python3-torch, 1 torch thread, OpenBLAS), native (cpu backend + hddm's kernels), webgpu
 * (dawn.node with the WGSL fused kernels, on whatever adapter dawn finds: on a CPU-only machine
 * Mesa's lavapipe, whose figure only proves the path runs), wasm with 2 and 1 threads, and the
 * plain cpu backend for `small` (very slow: 1 measured step). After each preset's table a line
 * gives webgpu's speed against native's from the same run.
 * A step is one expertTrainStep: flow-matching loss, backward, clipping, AdamW.
 * "x PyTorch" is throughput relative to PyTorch: >= 1.0 means at least as fast. PyTorch and
 * native run alternately `rounds` times and each keeps its fastest round: on a shared machine
 * the load changes between runs, and the minimum is the least disturbed measurement.
 * GFLOP/s counts the matmul FLOPs of forward + backward (3x forward), nothing else.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadMnist } from '../../src/data/mnist.js'
import { flowMatching } from '../../src/diffusion/objectives/flow.js'
import { EXPERT_PRESETS, tokenCount, type DiTConfig, type ExpertPresetName } from '../../src/model/config.js'
import { DiT } from '../../src/model/dit.js'
import { disposeBackend, initBackend, type BackendName } from '../../src/runtime/backend.js'
import { Adam } from '../../src/training/adam.js'
import { expertTrainStep } from '../../src/training/train-step.js'

interface Result { msPerStep: number, steps: number, loss: number, peakRssMB: number, adapter?: string }
interface Config {
  label: string
  preset: ExpertPresetName
  backend?: BackendName
  threads?: number
  steps: number
  warmup: number
  rounds: number
}

const PYTHON = '/usr/bin/python3'
const SHADER_CACHE = process.env.MESA_SHADER_CACHE_DIR ?? resolve('node_modules/.cache/mesa')
const SELF = fileURLToPath(import.meta.url)
const REFERENCE = fileURLToPath(new URL('./dit_reference.py', import.meta.url))

/** Matmul FLOPs of one forward pass (2 m k n per product). */
function forwardFlops (c: DiTConfig, batch: number): number {
  const D = c.hidden
  const T = tokenCount(c)
  const L = c.promptTokens
  const mm = (m: number, k: number, n: number): number => 2 * m * k * n
  const perBlock = mm(batch * T, D, 3 * D) + 4 * batch * T * T * D + mm(batch * T, D, D) +   // self-attention
    mm(batch * T, D, D) + mm(batch * L, D, 2 * D) + 4 * batch * T * L * D + mm(batch * T, D, D) +  // cross-attention
    mm(batch * T, D, c.mlpRatio * D) + mm(batch * T, c.mlpRatio * D, D)                         // MLP
  const patch = c.patchSize ** 2 * c.channels
  const shared = mm(batch * T, patch, D) + mm(batch, 256, D) + mm(batch, D, D) + mm(batch, D, 6 * D) +
    mm(batch * L, c.vocabSize, c.textDim) + mm(batch * L, c.textDim, D) + mm(batch * T, D, patch)
  return shared + c.depth * perBlock
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Child: time `steps` training steps after `warmup` on one backend. */
async function child (
  backend: BackendName, preset: ExpertPresetName, threads: number, batch: number, steps: number, warmup: number
): Promise<void> {
  const info = await initBackend({ backend, threads })
  const a = info.adapter
  const adapter = a !== undefined ? `${a.description}${a.isFallbackAdapter ? ', software' : ''}` : undefined
  const config = EXPERT_PRESETS[preset]
  const data = await loadMnist({ split: 'test' })
  const pixels = data.width * data.height
  const images = Float32Array.from(data.pixels.subarray(0, batch * pixels), p => p / 127.5 - 1)
  const tokens = new Int32Array(batch * config.promptTokens).map((_, i) => i % config.vocabSize)
  const model = new DiT(config, 0)
  const adam = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 }
  const optimizer = new Adam(model.params, adam)
  const times: number[] = []
  let loss = NaN
  for (let s = 0; s < warmup + steps; s++) {
    const u = Float32Array.from({ length: batch }, (_, i) => ((i * 7919 + s * 104729) % 1000) / 1000)
    const start = performance.now()
    loss = expertTrainStep(model, flowMatching(), optimizer, { images, tokens }, { u, noiseSeed: s }).loss
    if (s >= warmup) times.push(performance.now() - start)
  }
  const peakRssMB = process.resourceUsage().maxRSS / 1024
  const result: Result = { msPerStep: median(times), steps: times.length, loss, peakRssMB, adapter }
  console.log(`RESULT ${JSON.stringify(result)}`)
  optimizer.dispose()
  model.dispose()
  await disposeBackend()
}

function run (c: Config, batch: number): Result | string {
  let out: SpawnSyncReturns<string>
  if (c.backend === undefined) {
    const flags = [
      '--preset', c.preset, '--batch', String(batch), '--steps', String(c.steps), '--warmup', String(c.warmup)
    ]
    out = spawnSync(PYTHON, [REFERENCE, ...flags], { encoding: 'utf8' })
  } else {
    const tsx = ['--import', 'tsx', '--import', './src/polyfills.ts']
    const job = [c.backend, c.preset, String(c.threads), String(batch), String(c.steps), String(c.warmup)]
    // Mesa keeps compiled shaders between runs (lavapipe compiles each new kernel for seconds).
    const env = { ...process.env, HDDM_BACKEND: '', MESA_SHADER_CACHE_DIR: SHADER_CACHE, XDG_RUNTIME_DIR: tmpdir() }
    out = spawnSync(process.execPath, [...tsx, SELF, '--child', ...job], { encoding: 'utf8', env })
  }
  const lines = out.stdout.split('\n').map(l => l.replace(/^RESULT /, ''))
  const line = lines.reverse().find(l => l.startsWith('{"msPerStep"'))
  if (line === undefined) return `failed: ${(out.stderr ?? '').trim().split('\n').slice(-1)[0] ?? out.status}`
  return JSON.parse(line) as Result
}

async function main (): Promise<void> {
  const args = process.argv.slice(2)
  if (args[0] === '--child') {
    const [, backend, preset, ...counts] = args
    const [threads, batch, steps, warmup] = counts.map(Number)
    await child(backend as BackendName, preset as ExpertPresetName, threads, batch, steps, warmup)
    return
  }
  const option = (name: string, fallback: string): string => {
    const i = args.indexOf(`--${name}`)
    return i >= 0 ? args[i + 1] : fallback
  }
  const steps = Number(option('steps', '5'))
  const rounds = Number(option('rounds', '3'))
  const batch = Number(option('batch', '64'))
  const presets = option('presets', 'small,medium').split(',') as ExpertPresetName[]
  const torch = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch']).status === 0
  const timing = `median of ${steps} steps after 2 warm-up steps, best of ${rounds} rounds for PyTorch and native`
  const noTorch = torch ? '' : ' (python3-torch not installed: no PyTorch reference)'
  console.log(`train-step benchmark: batch ${batch}, ${timing}${noTorch}`)
  console.log('| preset | path | ms/step | steps/s | GFLOP/s | x PyTorch | peak RSS MB |')
  console.log('|---|---|---|---|---|---|---|')
  const speeds: string[] = []
  for (const preset of presets) {
    const pureJs: Config = {
      label: 'cpu (pure JS)', preset, backend: 'cpu', threads: 1, steps: 1, warmup: 1, rounds: 1
    }
    const configs: Config[] = [
      ...(torch ? [{ label: 'PyTorch 1 thread + OpenBLAS', preset, steps, warmup: 2, rounds }] : []),
      { label: 'native (cpu + hddm kernels)', preset, backend: 'native', threads: 2, steps, warmup: 2, rounds },
      { label: 'webgpu (fused WGSL kernels)', preset, backend: 'webgpu', threads: 1, steps, warmup: 2, rounds: 1 },
      { label: 'wasm, 2 threads', preset, backend: 'wasm', threads: 2, steps, warmup: 2, rounds: 1 },
      { label: 'wasm, 1 thread', preset, backend: 'wasm', threads: 1, steps, warmup: 2, rounds: 1 },
      ...(preset === 'small' ? [pureJs] : [])
    ]
    const gflop = 3 * forwardFlops(EXPERT_PRESETS[preset], batch) / 1e9
    // Round-robin over the configurations that repeat, so that each sees the same mix of load.
    const results = new Map<Config, Result | string>()
    for (let round = 0; round < Math.max(...configs.map(c => c.rounds)); round++) {
      for (const c of configs.filter(c => c.rounds > round)) {
        const r = run(c, batch)
        const best = results.get(c)
        if (best === undefined) results.set(c, r)
        else if (typeof r !== 'string' && (typeof best === 'string' || r.msPerStep < best.msPerStep)) results.set(c, r)
      }
    }
    let reference: number | undefined
    for (const c of configs) {
      const r = results.get(c) as Result | string
      if (typeof r === 'string') { console.log(`| ${preset} | ${c.label} | ${r} | | | | |`); continue }
      if (c.backend === undefined) reference = r.msPerStep
      const ratio = reference !== undefined ? (reference / r.msPerStep).toFixed(2) : '-'
      const msPerStep = r.msPerStep.toFixed(0)
      const stepsPerSecond = (1000 / r.msPerStep).toFixed(2)
      const gflops = (gflop / r.msPerStep * 1000).toFixed(1)
      const peakRss = r.peakRssMB.toFixed(0)
      console.log(`| ${preset} | ${c.label} | ${msPerStep} | ${stepsPerSecond} | ${gflops} | ${ratio} | ${peakRss} |`)
    }
    const native = results.get(configs.find(c => c.backend === 'native')!)
    const gpu = results.get(configs.find(c => c.backend === 'webgpu')!)
    if (typeof native !== 'string' && native !== undefined && typeof gpu !== 'string' && gpu !== undefined) {
      const speed = (native.msPerStep / gpu.msPerStep).toFixed(2)
      speeds.push(`${preset}: webgpu runs at ${speed}x native's speed in this run (adapter: ${gpu.adapter ?? '?'})`)
    }
  }
  if (speeds.length > 0) console.log(['', ...speeds].join('\n'))
}

await main()
