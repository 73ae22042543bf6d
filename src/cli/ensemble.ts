/**
 * `hddm-node ensemble --run CID`: joins the swarm as a serve-only peer, collects every task's
 * final checkpoints (gossip and the peers' coverage maps, or the CIDs given with --checkpoint),
 * verifies each (docs/PROTOCOL.md section 7.1), prints what it accepted and refused and why,
 * then stores the ensemble manifest (dag-json, pinned with the checkpoints it names, provided
 * in the DHT) and prints its CID: the model's name, all any peer needs to sample.
 */
import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createLogger, silentLogger, type LogFormat } from '../logger.js'
import { loadBootstrapList } from '../network/bootstrap-list.js'
import { createHddmNode } from '../node/hddm-node.js'
import { nameEnsemble, publishEnsemble, verifyFinals } from '../node/assemble.js'
import type { CheckpointVerdict } from '../ensemble/verify.js'
import { NoAcceptableCheckpointError } from '../ensemble/errors.js'
import { RoutingTextSchema } from '../protocol/ensemble-manifest.js'
import { BACKEND_CHOICES, initBackend, type BackendChoice } from '../runtime/backend.js'
import { InvalidArgumentError } from '../errors.js'
import {
  allowPeerOption, backendOption, collect, integerOption, logFormatOption, privateSwarm, scopeOption, swarmKeyOption,
  type PrivateSwarmFlags
} from './options.js'
import type { NetworkScope } from '../network/gater.js'
import type { Command } from 'commander'
import type { RegisterCommand } from './register-command.js'

interface EnsembleOptions extends PrivateSwarmFlags {
  run: string
  checkpoint?: string[]
  bootstrap?: string[]
  bootstrapList?: string
  dataDir: string
  listen: string[]
  scope: NetworkScope
  wait: number
  timeout: number
  routing: string
  out?: string
  json: boolean
  backend: BackendChoice
  logFormat?: LogFormat
}


/** How long the manifest's DHT announcement may take before the command gives up on it. */
const PROVIDE_TIMEOUT_MS = 10_000

export const registerEnsemble: RegisterCommand = (program: Command) => {
  program.command('ensemble')
    .description('Verify every task\'s final checkpoints, print what was accepted or refused and why, ' +
      'and name the ensemble by its manifest CID')
    .requiredOption('--run <cid>', 'the run (its manifest CID)')
    .option('--checkpoint <cid>', 'verify these checkpoints instead of those announced ' +
      '(repeatable; each names its task in its metadata)', collect)
    .option('--bootstrap <multiaddr>', 'bootstrap peer (repeatable; default: the bootstrap list file)', collect)
    .option('--bootstrap-list <file>', 'bootstrap list file (default: bootstrap/peers.json of the package)')
    .option('--data-dir <dir>',
      'identity, blocks: the checkpoints and the manifest stay here (sample from the same directory)', '.hddm')
    .option('--listen <multiaddr>', 'address to listen on (repeatable)', collect, [])
    .option('--scope <scope>', 'loopback | private | any', scopeOption, 'any')
    .addOption(swarmKeyOption())
    .addOption(allowPeerOption())
    .option('--wait <ms>', 'listen to gossip this long before collecting the announced checkpoints',
      integerOption('--wait', 0), 3000)
    .option('--timeout <ms>', 'deadline of each checkpoint fetch', integerOption('--timeout', 1), 60_000)
    .option('--routing <rule>', 'default routing of the ensemble: full | top1 | top2 | threshold:p', 'full')
    .option('--out <file>', 'also write the ensemble manifest as JSON (dag-json) here')
    .option('--json', 'print one JSON object', false)
    .option('--backend <name>', BACKEND_CHOICES.join(' | '), backendOption, 'auto')
    .option('--log-format <format>', 'human | json (logs on stderr; none by default)', logFormatOption)
    .action(async (options: EnsembleOptions) => { await ensemble(options) })
}

async function ensemble (o: EnsembleOptions): Promise<void> {
  const routing = RoutingTextSchema.safeParse(o.routing)
  if (!routing.success) throw new InvalidArgumentError(`--routing must be full, topK or threshold:p, got ${o.routing}`)
  const logger = o.logFormat === undefined ? silentLogger : createLogger({ format: o.logFormat })
  const node = createHddmNode({
    dataDir: o.dataDir,
    source: { run: o.run },
    bootstrap: o.bootstrap ?? await loadBootstrapList(o.bootstrapList),
    listen: o.listen.length > 0 ? o.listen : undefined,
    scope: o.scope,
    ...privateSwarm(o),
    tasks: 0,
    logger
  })
  try {
    await node.start()
    await initBackend({ backend: o.backend, logger })
    const init = { runId: node.runId, manifest: node.manifest, storage: node.blocks, timeoutMs: o.timeout }
    let verification
    if (o.checkpoint !== undefined) {
      verification = await verifyFinals({ ...init, candidates: o.checkpoint.map((cid) => ({ cid })) })
    } else {
      await sleep(o.wait)
      verification = await verifyFinals({ ...init, coverage: node.coverage(), peerCoverage: await node.peerCoverage() })
    }
    const report = { run: node.runId, verdicts: verification.verdicts }
    if (verification.missing.length > 0) {
      const printed = o.json
        ? JSON.stringify({ ...report, missing: verification.missing })
        : verdictLines(report.run, verification.verdicts).join('\n')
      process.stdout.write(printed + '\n')
      throw new NoAcceptableCheckpointError(verification.missing)
    }
    const named = await nameEnsemble({ ...init, routing: routing.data }, verification)
    const publish = { provideTimeoutMs: PROVIDE_TIMEOUT_MS, logger }
    const { id, bytes, provided } = await publishEnsemble(node.blocks, named, publish)
    if (o.out !== undefined) await writeFile(resolve(o.out), bytes)
    const json = JSON.parse(new TextDecoder().decode(bytes)) as unknown
    process.stdout.write(o.json
      ? JSON.stringify({ ...report, ensemble: id.toString(), manifest: json, provided }) + '\n'
      : [...verdictLines(report.run, verification.verdicts), `ensemble ${id.toString()}`].join('\n') + '\n')
  } finally {
    await node.stop()
  }
}

function verdictLines (run: string, verdicts: CheckpointVerdict[]): string[] {
  const loss = (v: CheckpointVerdict): string => {
    const announced = v.announcedLoss === undefined ? '' : ` (announced ${v.announcedLoss.toFixed(4)})`
    return v.heldOutLoss === undefined ? '' : `  held-out ${v.heldOutLoss.toFixed(4)}${announced}`
  }
  const task = (v: CheckpointVerdict): string => (v.task ?? '-').padEnd(10)
  return [
    `run ${run}`,
    ...verdicts.map((v) => v.accepted
      ? `accepted  ${task(v)} ${v.cid}  step ${String(v.step)}${loss(v)}${v.chosen ? '  chosen' : ''}`
      : `refused   ${task(v)} ${v.cid}  ${String(v.reason)}: ${String(v.message)}`)
  ]
}
