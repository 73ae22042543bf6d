import { once } from 'node:events'
import { InvalidArgumentError } from '../errors.js'
import { createLogger, type LogFormat } from '../logger.js'
import { loadBootstrapList } from '../network/bootstrap-list.js'
import { createHddmNode, type RunSource } from '../node/hddm-node.js'
import { createWorkerTaskTrainer } from '../node/worker-trainer.js'
import { BACKEND_CHOICES, initBackend, type BackendChoice } from '../runtime/backend.js'
import { dashboardOption, startDashboard, type DashboardFlag } from './dashboard-option.js'
import type { Dashboard } from '../dashboard/index.js'
import { jsonEvents, liveView } from './node-output.js'
import { metricsOption, metricsRegistry, serveMetrics, type MetricsFlag } from './metrics.js'
import { natInit, natOptions, reportReachability, type NatFlags } from './reachability.js'
import { parseBootstrap } from '../node/bootstrap-dial.js'
import {
  allowPeerOption, backendOption, collect, integerOption, logFormatOption, privateSwarm, scopeOption, swarmKeyOption,
  type PrivateSwarmFlags
} from './options.js'
import type { NetworkScope } from '../network/gater.js'
import type { Command } from 'commander'
import type { RegisterCommand } from './register-command.js'

export interface StartOptions extends PrivateSwarmFlags, MetricsFlag, NatFlags, DashboardFlag {
  run?: string
  manifest?: string
  bootstrap?: string[]
  bootstrapList?: string
  dataDir: string
  listen: string[]
  announce: string[]
  scope: NetworkScope
  backend: BackendChoice
  threads?: number
  tasks?: number
  resolveTimeout: number
  serveAny: boolean
  logFormat: LogFormat
}

/**
 * `hddm-node start`: join the swarm and a run (or create the run from a manifest file), train
 * free tasks and publish their checkpoints, serve samples of the ensembles it holds over
 * /hddm/sample/1.0.0 (any ensemble with --serve-any), then keep serving until SIGINT/SIGTERM, which
 * writes and announces a last checkpoint and releases the claim before exiting.
 */
export const registerStart: RegisterCommand = (program: Command) => {
  const command = program.command('start')
    .description('Join the swarm and a run, train free tasks, publish checkpoints by CID; ' +
      'Ctrl-C checkpoints, releases and stops')
    .option('--run <cid>', 'the run to join (its manifest CID)')
    .option('--manifest <file>',
      'create the run from a manifest file (clusters the data, stores the shards, prints the run CID)')
    .option('--bootstrap <multiaddr>',
      'bootstrap peer /ip4/.../tcp/.../p2p/<id> (repeatable; default: the bootstrap list file)', collect)
    .option('--bootstrap-list <file>', 'bootstrap list file (default: bootstrap/peers.json of the package)')
    .option('--data-dir <dir>', 'identity key, lock, peer store, blocks and task checkpoints', '.hddm')
    .option('--listen <multiaddr>', 'address to listen on (repeatable)', collect, [])
    .option('--announce <multiaddr>',
      'address to advertise instead, e.g. a public IP or DNS name (repeatable)', collect, [])
    .option('--scope <scope>', 'which addresses may be dialled: loopback | private | any', scopeOption, 'any')
    .addOption(swarmKeyOption())
    .addOption(allowPeerOption())
    .option('--backend <name>',
      `tfjs backend of the training worker and of sample serving: ${BACKEND_CHOICES.join(' | ')}`,
      backendOption, 'auto')
    .option('--threads <n>', 'compute threads of the training worker (default: every core, at most 8); ' +
      'several nodes on one machine train faster with a share each', integerOption('--threads', 1))
    .option('--tasks <n>', 'tasks to train before only serving (0 = serve only)', integerOption('--tasks', 0))
    .option('--serve-any', 'answer sample requests for ensembles this node does not hold by fetching them ' +
      'from the swarm (default: only ensembles held here)', false)
    .addOption(dashboardOption())
    .option('--resolve-timeout <ms>', 'give up fetching the run manifest after this long',
      integerOption('--resolve-timeout', 1), 30_000)
    .option('--log-format <format>', 'human | json (logs go to stderr; ' +
      'stdout is the live view on a terminal, JSON events otherwise)', logFormatOption, 'human')
    .addOption(metricsOption())
  for (const option of natOptions(false)) command.addOption(option)
  command.action(async (options: StartOptions) => { await start(options) })
}

async function start (o: StartOptions): Promise<void> {
  const source = runSource(o)
  const logger = createLogger({ format: o.logFormat })
  const bootstrap = o.bootstrap ?? await loadBootstrapList(o.bootstrapList)
  // Training runs in worker threads with their own backend; this one draws samples for
  // /hddm/sample/1.0.0 on the main thread, so one thread keeps the node's I/O responsive.
  const backend = await initBackend({ backend: o.backend, threads: 1, logger })
  const registry = metricsRegistry(o)
  const node = createHddmNode({
    dataDir: o.dataDir,
    source,
    listen: o.listen.length > 0 ? o.listen : undefined,
    announce: o.announce,
    bootstrap,
    scope: o.scope,
    ...privateSwarm(o),
    ...natInit(o),
    tasks: o.tasks,
    resolveTimeoutMs: o.resolveTimeout,
    serveAny: o.serveAny,
    metrics: registry,
    trainer: createWorkerTaskTrainer({ backend: o.backend, threads: o.threads, logger }),
    logger
  })
  const stopMetrics = await serveMetrics(node, registry, o, logger)
  const interactive = process.stdout.isTTY && o.logFormat === 'human'
  const output = interactive ? undefined : jsonEvents(node)
  const stopping = Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')])
  let dashboard: Dashboard | undefined
  let cancelCheck = (): void => {}
  try {
    dashboard = await startDashboard(o.dashboard, { title: 'hddm-node', gallery: { source: 'own' }, logger })
    await Promise.race([node.start(), stopping])
    if (node.status !== 'started') return
    dashboard?.attach(node)
    if (interactive) {
      const listening = node.multiaddrs().map((a) => `listening ${a}\n`).join('')
      const page = dashboard === undefined ? '' : `dashboard ${dashboard.url}\n`
      process.stdout.write(`run ${node.runId}\npeer ${node.peerId}\n${listening}${page}`)
    } else {
      const started = {
        event: 'started', ts: Date.now(), runId: node.runId, peerId: node.peerId, multiaddrs: node.multiaddrs(),
        backend: { name: backend.name, reason: backend.reason }, dashboard: dashboard?.url
      }
      process.stdout.write(JSON.stringify(started) + '\n')
    }
    // Checked once joined, in the background: an unreachable answer takes a few seconds.
    const prefer = parseBootstrap(bootstrap).map(({ peer }) => peer)
    cancelCheck = reportReachability(node.libp2p, prefer, (r) => {
      process.stdout.write(interactive ? `${r.line}\n` : JSON.stringify({
        event: 'reachability', ts: Date.now(), status: r.status, line: r.line,
        reachableAt: r.reachableAt, relayAddrs: r.state.relayAddrs
      }) + '\n')
    }, logger)
    const view = interactive ? liveView(node) : undefined
    await stopping
    view?.stop()
    logger.info('stopping: last checkpoint, release, leave')
  } finally {
    cancelCheck()
    await dashboard?.stop()
    await node.stop()
    await stopMetrics()
    output?.stop()
  }
}

function runSource (o: StartOptions): RunSource {
  if ((o.run === undefined) === (o.manifest === undefined)) {
    throw new InvalidArgumentError('give exactly one of --run <cid> or --manifest <file>')
  }
  return o.run !== undefined ? { run: o.run } : { manifestFile: o.manifest as string }
}
