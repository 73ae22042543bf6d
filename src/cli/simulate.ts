import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { InvalidArgumentError } from '../errors.js'
import { createLogger, silentLogger } from '../logger.js'
import { EXPERT_PRESETS } from '../model/config.js'
import { createHddmNode } from '../node.js'
import { assembleEnsemble, sampleGrid } from '../node/assemble.js'
import { readManifestFile } from '../node/run-creation.js'
import { parseRunManifest, type RunManifest } from '../protocol/run-manifest.js'
import { initBackend, type BackendChoice } from '../runtime/backend.js'
import { backendOption, integerOption } from './options.js'
import type { Command } from 'commander'
import type { RegisterCommand } from './commands.js'

interface SimulateOptions {
  manifest: string
  contributors: number
  budget?: number
  preset?: string
  out?: string
  backend: BackendChoice
  timeout: number
  verbose: boolean
}

/**
 * `hddm-node simulate` (= `npm start`): a whole swarm on this machine, as separate processes on
 * 127.0.0.1: one `hddm-node bootstrap` peer and several `hddm-node start` contributors (the first
 * creates the run from the manifest, the others join it by CID). When every task has a final
 * checkpoint, an observer peer fetches them by CID, names the ensemble and samples every prompt.
 */
export const registerSimulate: RegisterCommand = (program: Command) => {
  program.command('simulate')
    .description('Run a local swarm (bootstrap + contributors as processes on 127.0.0.1) through a whole run, then sample the ensemble')
    .option('--manifest <file>', 'run manifest', fileURLToPath(new URL('../../manifests/default.json', import.meta.url)))
    .option('--contributors <n>', 'contributor processes', integerOption('--contributors', 1), 3)
    .option('--budget <steps>', 'training steps per task (default: the manifest\'s); a longer run gives better samples', integerOption('--budget', 1))
    .option('--preset <name>', `expert preset (${Object.keys(EXPERT_PRESETS).join(' | ')}); default: the manifest's`)
    .option('--out <dir>', 'where node data, logs and the sample grid go (default: a new temporary directory)')
    .option('--backend <name>', 'tfjs backend of every contributor', backendOption, 'auto')
    .option('--timeout <s>', 'give up after this many seconds', integerOption('--timeout', 1), 1800)
    .option('--verbose', 'echo the contributors\' events', false)
    .action(async (options: SimulateOptions) => { await simulate(options) })
}

async function simulate (o: SimulateOptions): Promise<void> {
  const t0 = performance.now()
  const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(1)}s`
  const say = (line: string): void => { process.stdout.write(`[${elapsed()}] ${line}\n`) }
  const out = resolve(o.out ?? await mkdtemp(join(tmpdir(), 'hddm-simulate-')))
  await mkdir(out, { recursive: true })
  const manifest = withOverrides((await readManifestFile(o.manifest)).manifest, o)
  const manifestFile = join(out, 'manifest.json')
  await writeFile(manifestFile, JSON.stringify(manifest, null, 2))
  say(`run ${manifest.name}: K=${manifest.k}, ${manifest.tasks.length} tasks, preset ${manifest.model.expert}, ${manifest.training.expert.steps} steps per expert; ${o.contributors} contributors; files in ${out}`)

  const children: ChildProcess[] = []
  const deadline = setTimeout(() => { for (const c of children) c.kill('SIGKILL') }, o.timeout * 1000)
  const observerDir = join(out, 'observer')
  let observer: ReturnType<typeof createHddmNode> | undefined
  try {
    const bootstrap = spawnCli(['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', join(out, 'bootstrap'), '--json', '--log-format', 'json'], join(out, 'bootstrap.log'))
    children.push(bootstrap.child)
    const { multiaddrs } = await firstJson<{ multiaddrs: string[] }>(bootstrap, (m) => Array.isArray(m.multiaddrs))
    const bootstrapAddr = multiaddrs[0]
    say(`bootstrap peer ${bootstrapAddr}`)

    const bootstrapList = [bootstrapAddr]
    const node = (i: number, source: string[]): Peer => {
      const child = spawnCli(['start', ...source, ...bootstrapList.flatMap((a) => ['--bootstrap', a]), '--data-dir', join(out, `node-${i}`), '--listen', '/ip4/127.0.0.1/tcp/0',
        '--scope', 'loopback', '--backend', o.backend, '--log-format', 'json'], join(out, `node-${i}.log`))
      children.push(child.child)
      if (o.verbose) child.events.on('line', (m) => { say(`node-${i} ${JSON.stringify(m)}`) })
      return child
    }
    const first = node(1, ['--manifest', manifestFile])
    const { runId, multiaddrs: creator } = await firstJson<{ runId: string, multiaddrs: string[] }>(first, (m) => m.event === 'started')
    say(`run ${runId} created by node-1`)
    // The creator holds the manifest and shards; dialling it directly spares the joiners a DHT
    // provider lookup while its provider records are still spreading.
    bootstrapList.push(creator[0])
    for (let i = 2; i <= o.contributors; i++) node(i, ['--run', runId])

    observer = createHddmNode({ dataDir: observerDir, source: { run: runId }, bootstrap: bootstrapList, listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback', tasks: 0, logger: silentLogger })
    await observer.start()
    const watched = observer
    let done = -1
    await waitUntil(() => {
      const finals = watched.coverage().filter((r) => r.checkpoint?.final === true)
      if (finals.length !== done) {
        done = finals.length
        say(`${done}/${manifest.tasks.length} tasks final ${finals.map((r) => r.task).join(' ')}`)
      }
      return done === manifest.tasks.length
    }, children)
    const trained = elapsed()

    await initBackend({ backend: 'auto', logger: createLogger({ level: 'warn' }) })
    const ensemble = await assembleEnsemble({ runId, manifest: observer.manifest, coverage: observer.coverage(), storage: observer.blocks })
    try {
      const png = await sampleGrid(ensemble)
      const gridFile = join(out, 'samples.png')
      await writeFile(gridFile, png)
      const ensembleCid = await observer.blocks.putJson(ensemble.manifest)
      say('done')
      process.stdout.write([
        `run        ${runId}`,
        `ensemble   ${ensembleCid.toString()}`,
        // Every final checkpoint was verified (held-out loss recomputed); refused ones say why.
        ...ensemble.verification.verdicts.map((v) => `${(v.task ?? '-').padEnd(10)} ${v.cid} ${v.accepted ? `held-out ${v.heldOutLoss!.toFixed(4)}${v.chosen ? '' : ' (replica not chosen)'}` : `refused, ${String(v.reason)}: ${String(v.message)}`}`),
        `samples    ${gridFile} (${ensemble.prompts.length} prompts x 8)`,
        `timings    all tasks final at ${trained}, total ${elapsed()}`
      ].join('\n') + '\n')
    } finally {
      ensemble.dispose()
    }
  } finally {
    clearTimeout(deadline)
    await observer?.stop()
    await Promise.all(children.map(stopChild))
  }
}

function withOverrides (manifest: RunManifest, o: SimulateOptions): RunManifest {
  if (o.preset !== undefined && !Object.hasOwn(EXPERT_PRESETS, o.preset)) throw new InvalidArgumentError(`--preset must be one of ${Object.keys(EXPERT_PRESETS).join(', ')}`)
  const steps = o.budget
  const scale = (b: RunManifest['training']['expert']): RunManifest['training']['expert'] => steps === undefined
    ? b
    : { ...b, steps, checkpointEvery: Math.max(1, Math.min(b.checkpointEvery, Math.ceil(steps / 4))), warmupSteps: Math.min(b.warmupSteps, Math.floor(steps / 10)) }
  return parseRunManifest({
    ...manifest,
    model: { ...manifest.model, expert: o.preset ?? manifest.model.expert },
    training: { expert: scale(manifest.training.expert), router: scale(manifest.training.router) }
  })
}

interface Peer {
  child: ChildProcess
  /** Every JSON line the peer prints on stdout (its events), as it arrives. */
  events: EventEmitter<{ line: [Record<string, unknown>] }>
}

/**
 * This CLI again, in a child process with the same Node flags (so tsx sources work too). Its
 * stdout is always drained (a full pipe would block the child) into `<log>.events`, and its
 * stderr (logs) goes to `<log>`.
 */
function spawnCli (args: string[], logFile: string): Peer {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stderr?.pipe(createWriteStream(logFile))
  const eventLog = createWriteStream(`${logFile}.events`)
  const events = new EventEmitter<{ line: [Record<string, unknown>] }>()
  createInterface({ input: child.stdout! }).on('line', (line) => {
    eventLog.write(line + '\n')
    try {
      events.emit('line', JSON.parse(line) as Record<string, unknown>)
    } catch {}
  })
  return { child, events }
}

/** The first JSON line of the peer that matches; fails if the peer exits first. */
async function firstJson<T> (peer: Peer, match: (m: Record<string, unknown>) => boolean): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const onLine = (m: Record<string, unknown>): void => {
      if (!match(m)) return
      cleanup()
      resolve(m as T)
    }
    const onExit = (code: number | null): void => {
      cleanup()
      reject(new InvalidArgumentError(`a simulated peer exited with code ${String(code)} before it was ready (see its log)`))
    }
    const cleanup = (): void => { peer.events.off('line', onLine); peer.child.off('exit', onExit) }
    peer.events.on('line', onLine)
    peer.child.on('exit', onExit)
  })
}

async function waitUntil (done: () => boolean, children: ChildProcess[]): Promise<void> {
  while (!done()) {
    if (children.length > 0 && children.every((c) => c.exitCode !== null || c.signalCode !== null)) throw new InvalidArgumentError('every simulated peer has exited before the run finished (see their logs)')
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  await exited
  clearTimeout(timer)
}
