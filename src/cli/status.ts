import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createLogger, silentLogger, type LogFormat } from '../logger.js'
import { loadBootstrapList } from '../network/bootstrap-list.js'
import { createHddmNode } from '../node/hddm-node.js'
import { formatCoverage, mergeCoverage } from '../node/coverage.js'
import {
  allowPeerOption, collect, integerOption, logFormatOption, privateSwarm, scopeOption, swarmKeyOption,
  type PrivateSwarmFlags
} from './options.js'
import type { NetworkScope } from '../network/gater.js'
import type { Command } from 'commander'
import type { RegisterCommand } from './register-command.js'

interface StatusOptions extends PrivateSwarmFlags {
  run: string
  bootstrap?: string[]
  bootstrapList?: string
  dataDir?: string
  scope: NetworkScope
  wait: number
  json: boolean
  logFormat?: LogFormat
}


/**
 * `hddm-node status --run CID`: joins the run as a non-training peer, listens to its gossip
 * for a few seconds, asks its peers for their coverage maps, and prints the merged map.
 */
export const registerStatus: RegisterCommand = (program: Command) => {
  program.command('status')
    .description('Print a run\'s coverage map: every task with holder, step, loss, lease and last checkpoint CID')
    .requiredOption('--run <cid>', 'the run (its manifest CID)')
    .option('--bootstrap <multiaddr>', 'bootstrap peer (repeatable; default: the bootstrap list file)', collect)
    .option('--bootstrap-list <file>', 'bootstrap list file (default: bootstrap/peers.json of the package)')
    .option('--data-dir <dir>', 'a data directory for this short-lived peer (default: a fresh temporary one)')
    .option('--scope <scope>', 'loopback | private | any', scopeOption, 'any')
    .addOption(swarmKeyOption())
    .addOption(allowPeerOption())
    .option('--wait <ms>', 'how long to listen to gossip before printing', integerOption('--wait', 0), 6000)
    .option('--json', 'print the coverage map as JSON', false)
    .option('--log-format <format>', 'human | json (logs on stderr; none by default)', logFormatOption)
    .action(async (options: StatusOptions) => { await status(options) })
}

async function status (o: StatusOptions): Promise<void> {
  const dataDir = o.dataDir ?? await mkdtemp(join(tmpdir(), 'hddm-status-'))
  const node = createHddmNode({
    dataDir,
    source: { run: o.run },
    bootstrap: o.bootstrap ?? await loadBootstrapList(o.bootstrapList),
    scope: o.scope,
    ...privateSwarm(o),
    tasks: 0,
    logger: o.logFormat === undefined ? silentLogger : createLogger({ format: o.logFormat })
  })
  try {
    await node.start()
    await sleep(o.wait)
    const rows = mergeCoverage([node.coverage(), ...await node.peerCoverage()])
    if (o.json) {
      process.stdout.write(JSON.stringify({ run: node.runId, tasks: rows }) + '\n')
    } else {
      const done = rows.filter((r) => r.checkpoint?.final === true).length
      const peers = `${node.peers().run} peers in the run`
      const header = `run ${node.runId}: ${done}/${rows.length} tasks announced final, ${peers}`
      process.stdout.write([header, ...formatCoverage(rows, Date.now())].join('\n') + '\n')
    }
  } finally {
    await node.stop()
    if (o.dataDir === undefined) await rm(dataDir, { recursive: true, force: true })
  }
}
