import type { ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLogger, silentLogger } from '../logger.js'
import { EXPERT_PRESETS } from '../model/config.js'
import { createHddmNode } from '../node/hddm-node.js'
import { assembleEnsemble, publishEnsemble, type AssembledEnsemble } from '../node/assemble.js'
import { loadDataset } from '../data/sources.js'
import { formatRouting, parseRouting, type Routing } from '../diffusion/routing.js'
import { sampleEnsemble } from '../ensemble/sample.js'
import type { CheckpointVerdict } from '../ensemble/verify.js'
import {
  evaluateEnsemble, loadClassifier, promptGrid, referenceStatistics, type EnsembleEvaluation
} from '../eval/index.js'
import { fastPathAdvice, SLOWDOWN_VS_NATIVE } from '../runtime/backend-choice.js'
import { SimulationProgress, type StepEvent } from './simulate-progress.js'
import { firstJson, spawnCli, stopChild, waitUntil, type Peer } from './simulate-peers.js'
import { readManifestFile } from '../node/run-creation.js'
import type { RunManifest } from '../protocol/run-manifest.js'
import { withOverrides } from './simulate-manifest.js'
import { startSwarmDashboard, swarmDashboardOption, type SwarmDashboard } from './simulate-dashboard.js'
import type { DashboardAddress } from '../dashboard/index.js'
import { disposeBackend, initBackend, type BackendChoice } from '../runtime/backend.js'
import { backendOption, integerOption, numberOption } from './options.js'
import { Option, type Command } from 'commander'
import type { RegisterCommand } from './register-command.js'

interface SimulateOptions {
  manifest: string
  contributors: number
  budget?: number
  preset?: string
  out?: string
  backend: BackendChoice
  timeout: number
  verbose: boolean
  threads?: number
  samples: number
  routing: string
  sampleSteps: number
  guidance: number
  dashboard: DashboardAddress | false
}

/**
 * `hddm-node simulate` (= `npm start`): a whole swarm on this machine, as separate processes on
 * 127.0.0.1: one `hddm-node bootstrap` peer and several `hddm-node start` contributors (the first
 * creates the run from the manifest, the others join it by CID). When every task has a final
 * checkpoint, an observer peer fetches them by CID, verifies them, names the ensemble, draws
 * samples for every prompt and scores them (prompt accuracy, FID against the test split, expert
 * usage) with the dataset's evaluation classifier.
 */
export const registerSimulate: RegisterCommand = (program: Command) => {
  const defaultManifest = fileURLToPath(new URL('../../manifests/default.json', import.meta.url))
  program.command('simulate')
    .description('Run a local swarm (bootstrap + contributors as processes on 127.0.0.1) through a whole run, ' +
      'then sample the ensemble')
    .option('--manifest <file>', 'run manifest', defaultManifest)
    .option('--contributors <n>', 'contributor processes', integerOption('--contributors', 1), 3)
    .option('--budget <steps>', 'training steps per task (default: the manifest\'s); ' +
      'a longer run gives better samples', integerOption('--budget', 1))
    .option('--preset <name>', `expert preset (${Object.keys(EXPERT_PRESETS).join(' | ')}); default: the manifest's`)
    .option('--out <dir>', 'where node data, logs and the sample grid go (default: a new temporary directory)')
    .option('--backend <name>', 'tfjs backend of every contributor', backendOption, 'auto')
    .option('--threads <n>', 'compute threads per contributor (default: the cores divided among the contributors)',
      integerOption('--threads', 1))
    .option('--timeout <s>', 'give up after this many seconds', integerOption('--timeout', 1), 1800)
    .option('--verbose', 'echo the contributors\' events', false)
    .option('--samples <n>', 'samples drawn and scored at the end (balanced over the prompts; 0 = only the grid)',
      integerOption('--samples', 0), 300)
    .option('--routing <rule>', 'routing of the final samples: full | top1 | top2 | threshold:p', 'top1')
    .option('--sample-steps <n>', 'Euler steps of the final samples', integerOption('--sample-steps', 1), 20)
    .option('--guidance <w>', 'classifier-free guidance of the final samples', numberOption('--guidance', 0), 2)
    .addOption(swarmDashboardOption())
    .addOption(new Option('--no-dashboard', 'no live page'))
    .action(async (options: SimulateOptions) => { await simulate(options) })
}

async function simulate (o: SimulateOptions): Promise<void> {
  const routing = parseRouting(o.routing)
  const t0 = performance.now()
  const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(1)}s`
  const plain = (line: string): void => { process.stdout.write(`[${elapsed()}] ${line}\n`) }
  const out = resolve(o.out ?? await mkdtemp(join(tmpdir(), 'hddm-simulate-')))
  await mkdir(out, { recursive: true })
  const manifest = withOverrides((await readManifestFile(o.manifest)).manifest, o)
  const manifestFile = join(out, 'manifest.json')
  await writeFile(manifestFile, JSON.stringify(manifest, null, 2))
  const shape = `K=${manifest.k}, ${manifest.tasks.length} tasks, preset ${manifest.model.expert}`
  const budget = `${manifest.training.expert.steps} steps per expert`
  plain(`run ${manifest.name}: ${shape}, ${budget}; ${o.contributors} contributors; files in ${out}`)
  // The contributors choose their backend the same way on this machine: say now what they will get.
  const backend = await initBackend({ backend: o.backend, logger: createLogger({ level: 'warn' }) })
  const advice = fastPathAdvice(backend)
  const nativeNote = backend.name === 'native' && backend.reason !== undefined
    ? `, ${backend.reason.split('; ').pop()!}`
    : ''
  plain(`training backend: ${backend.name} (${backend.threads} threads${nativeNote})`)
  if (advice !== undefined) {
    const slower = SLOWDOWN_VS_NATIVE[backend.name]
    const slowerNote = slower !== undefined ? `, about ${slower}x slower than native` : ''
    const measured = '(the ETA below is measured as it runs)'
    plain(`the native kernels are not available, so this run trains on ${backend.name}${slowerNote} ${measured}`)
    plain(`to train ${slower !== undefined ? `${slower}x ` : ''}faster: ${advice}`)
  }

  // The contributors share this machine's cores: each worker gets its share, so BLAS threads
  // do not outnumber the cores (oversubscribed BLAS threads spin and slow everyone down).
  const threads = o.threads ?? Math.max(1, Math.floor(availableParallelism() / o.contributors))
  const children: ChildProcess[] = []
  const deadline = setTimeout(() => { for (const c of children) c.kill('SIGKILL') }, o.timeout * 1000)
  const observerDir = join(out, 'observer')
  const progress = new SimulationProgress({ manifest, contributors: o.contributors, elapsed })
  const say = (line: string): void => { progress.say(line) }
  let observer: ReturnType<typeof createHddmNode> | undefined
  let dashboard: SwarmDashboard | undefined
  try {
    dashboard = await startSwarmDashboard(o.dashboard, say, createLogger({ level: 'warn' }))
    const bootstrapArgs = [
      'bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', join(out, 'bootstrap'),
      '--json', '--log-format', 'json'
    ]
    const bootstrap = spawnCli(bootstrapArgs, join(out, 'bootstrap.log'))
    children.push(bootstrap.child)
    const { multiaddrs } = await firstJson<{ multiaddrs: string[] }>(bootstrap, (m) => Array.isArray(m.multiaddrs))
    const bootstrapAddr = multiaddrs[0]
    say(`bootstrap peer ${bootstrapAddr}`)

    const bootstrapList = [bootstrapAddr]
    const node = (i: number, source: string[]): Peer => {
      const args = [
        'start', ...source, ...bootstrapList.flatMap((a) => ['--bootstrap', a]),
        '--data-dir', join(out, `node-${i}`), '--listen', '/ip4/127.0.0.1/tcp/0',
        '--scope', 'loopback', '--backend', o.backend, '--threads', String(threads), '--log-format', 'json'
      ]
      const child = spawnCli(args, join(out, `node-${i}.log`))
      children.push(child.child)
      dashboard?.watch(`node-${i}`, child)
      child.events.on('line', (m) => {
        if (o.verbose) say(`node-${i} ${JSON.stringify(m)}`)
        if (m.event === 'started') say(`node-${i} started, trains on ${backendName(m)}`)
        else if (m.event === 'step') progress.step(`node-${i}`, m as unknown as StepEvent)
        else if (m.event === 'task' && m.phase === 'done') progress.done(String(m.task))
      })
      return child
    }
    const first = node(1, ['--manifest', manifestFile])
    const created = await firstJson<{ runId: string, multiaddrs: string[] }>(first, (m) => m.event === 'started')
    const { runId, multiaddrs: creator } = created
    say(`run ${runId} created by node-1`)
    // The creator holds the manifest and shards; dialling it directly spares the joiners a DHT
    // provider lookup while its provider records are still spreading.
    bootstrapList.push(creator[0])
    for (let i = 2; i <= o.contributors; i++) node(i, ['--run', runId])

    observer = createHddmNode({
      dataDir: observerDir, source: { run: runId }, bootstrap: bootstrapList, listen: ['/ip4/127.0.0.1/tcp/0'],
      scope: 'loopback', tasks: 0, logger: silentLogger
    })
    await observer.start()
    dashboard?.attach(observer)
    const watched = observer
    let done = -1
    await waitUntil(() => {
      // Done means verified here: the observer fetched each final and checked it.
      const finals = watched.doneTasks()
      for (const task of finals) progress.done(task)
      if (finals.length !== done) {
        done = finals.length
        say(`${done}/${manifest.tasks.length} tasks final (verified) ${finals.join(' ')}`)
      }
      return done === manifest.tasks.length
    }, children)
    progress.stop()
    const trained = elapsed()

    const ensemble = await assembleEnsemble({
      runId, manifest: observer.manifest, coverage: observer.coverage(), storage: observer.blocks
    })
    try {
      // Kept in the observer's directory; the local swarm stops with the command, so no DHT record.
      const { id: ensembleCid } = await publishEnsemble(observer.blocks, ensemble, { provide: false })
      const drawn = Math.max(o.samples, 8 * ensemble.prompts.length)
      const how = `${formatRouting(routing)}, ${o.sampleSteps} steps, guidance ${o.guidance}`
      plain(`ensemble ${ensembleCid.toString()} verified; drawing ${drawn} samples (${how})`)
      const gridFile = join(out, 'samples.png')
      const scored = await drawAndScore(ensemble, manifest, { ...o, routing })
      await writeFile(gridFile, scored.grid)
      if (scored.evaluation !== undefined) {
        await writeFile(join(out, 'evaluation.json'), JSON.stringify(scored.evaluation, null, 2) + '\n')
      }
      plain('done')
      process.stdout.write([
        `run        ${runId}`,
        `ensemble   ${ensembleCid.toString()}`,
        // Every final checkpoint was verified (held-out loss recomputed); refused ones say why.
        ...ensemble.verification.verdicts.map(verdictLine),
        ...scored.summary,
        `samples    ${gridFile} (${ensemble.prompts.length} prompts x ${scored.perPrompt})`,
        `timings    all tasks final at ${trained}, total ${elapsed()}`
      ].join('\n') + '\n')
    } finally {
      ensemble.dispose()
    }
  } finally {
    progress.stop()
    clearTimeout(deadline)
    await dashboard?.stop()
    await observer?.stop()
    await Promise.all(children.map(stopChild))
    await disposeBackend()
  }
}

/** The backend a contributor's `started` event names. */
function backendName (started: Record<string, unknown>): string {
  return (started.backend as { name?: string } | undefined)?.name ?? 'an unknown backend'
}

/** A final checkpoint in the summary: its held-out loss, or why it was refused. */
function verdictLine (v: CheckpointVerdict): string {
  const outcome = v.accepted
    ? `held-out ${v.heldOutLoss!.toFixed(4)}${v.chosen ? '' : ' (replica not chosen)'}`
    : `refused, ${String(v.reason)}: ${String(v.message)}`
  return `${(v.task ?? '-').padEnd(10)} ${v.cid} ${outcome}`
}

interface Scored {
  grid: Uint8Array
  perPrompt: number
  summary: string[]
  evaluation?: EnsembleEvaluation
}

/**
 * The run's own verdict on its ensemble: `samples` draws balanced over the prompts, scored with
 * the dataset's evaluation classifier against its whole test split (prompt accuracy, FID, usage),
 * and a grid of the first draws of every prompt. Without a classifier for the dataset, only the grid.
 */
async function drawAndScore (
  ensemble: AssembledEnsemble, manifest: RunManifest, o: Omit<SimulateOptions, 'routing'> & { routing: Routing }
): Promise<Scored> {
  const perPrompt = 8
  const family = manifest.dataset.kind === 'mnist' ? 'mnist' : undefined
  const common = {
    members: ensemble.experts, router: ensemble.router, tokenizer: ensemble.tokenizer,
    routing: o.routing, steps: o.sampleSteps, guidance: o.guidance, seed: 1
  }
  if (family === undefined || o.samples === 0) {
    const prompts = ensemble.prompts.flatMap((p) => new Array<string>(perPrompt).fill(p))
    const result = await sampleEnsemble({ ...common, prompts })
    const note = family === undefined ? ['evaluation no classifier ships for this dataset: grid only'] : []
    return { grid: promptGrid(result.images, result.shape, prompts, perPrompt), perPrompt, summary: note }
  }
  const classifier = await loadClassifier(family)
  try {
    const reference = referenceStatistics(classifier, await loadDataset(`${family}:test`))
    const samples = Math.max(o.samples, perPrompt * classifier.info.classNames.length)
    const { evaluation, images, shape, prompts } = await evaluateEnsemble({ ...common, classifier, reference, samples })
    const usage = evaluation.usage.map((u) => `c${u.cluster} ${(100 * u.meanWeight).toFixed(0)}%`).join(' ')
    const accuracy = (100 * evaluation.promptAccuracy.accuracy).toFixed(1)
    const judge = `${evaluation.count} samples, the ${family} evaluation classifier; real test digits score 98%`
    const fidReference = `against the ${reference.count} ${family} test images (300 real training images score 5-6)`
    return {
      grid: promptGrid(images, shape, prompts, perPrompt),
      perPrompt,
      evaluation,
      summary: [
        `prompts    ${accuracy}% drawn as asked (${judge})`,
        `FID        ${evaluation.fid.toFixed(1)} ${fidReference}`,
        `usage      ${usage} (mean routed weight per expert)`
      ]
    }
  } finally {
    classifier.dispose()
  }
}
