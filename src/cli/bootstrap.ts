import { once } from 'node:events'
import { CID } from 'multiformats/cid'
import { InvalidArgumentError } from '../errors.js'
import { createLogger, type LogFormat, type Logger } from '../logger.js'
import { loadBootstrapList } from '../network/bootstrap-list.js'
import { createGossip, type Gossip } from '../network/gossip.js'
import { createSwarmNode, type SwarmNode } from '../network/swarm-node.js'
import { parseResolvedRunManifest } from '../protocol/run-manifest.js'
import { createGossipValidator } from '../protocol/validate.js'
import { createStorage, type Storage } from '../storage/helia.js'
import type { Command } from 'commander'
import type { RegisterCommand } from './register-command.js'
import {
  allowPeerOption, collect, logFormatOption, privateSwarm, swarmKeyOption, type PrivateSwarmFlags
} from './options.js'

interface BootstrapOptions extends PrivateSwarmFlags {
  listen: string[]
  announce: string[]
  dataDir: string
  bootstrap?: string[]
  bootstrapList?: string
  run: string[]
  mdns: boolean
  json: boolean
  logFormat: LogFormat
}

/** Fixed rather than ephemeral so the peer's address can go into other nodes' bootstrap lists. */
export const DEFAULT_BOOTSTRAP_LISTEN = ['/ip4/0.0.0.0/tcp/4710']


/**
 * `hddm-node bootstrap`: a peer that helps others find each other (DHT, identify) and relays
 * the runs it is told about, with storage so that it can also hold and serve blocks. It trains
 * nothing. It prints its multiaddrs and runs until SIGINT or SIGTERM.
 */
export const registerBootstrap: RegisterCommand = (program: Command) => {
  program.command('bootstrap')
    .description('Run a bootstrap peer (DHT, gossip relay, storage; no training) and print its multiaddrs')
    .option('--listen <multiaddr>', 'address to listen on (repeatable)', collect)
    .option('--announce <multiaddr>', 'address to advertise instead, e.g. a public IP or DNS name (repeatable)', collect, [])
    .option('--data-dir <dir>', 'identity, lock, peer store and blocks', '.hddm-bootstrap')
    .option('--bootstrap <multiaddr>', 'other bootstrap peers to join (repeatable; default: the list file)', collect)
    .option('--bootstrap-list <file>', 'bootstrap list file (default: bootstrap/peers.json of the package)')
    .option('--run <cid>', 'relay and validate this run\'s gossip topic (repeatable)', collect, [])
    .option('--mdns', 'also discover peers on the LAN with multicast DNS', false)
    .addOption(swarmKeyOption())
    .addOption(allowPeerOption())
    .option('--json', 'print {"peerId","multiaddrs"} as one JSON line instead of one address per line', false)
    .option('--log-format <format>', 'human | json (logs go to stderr)', logFormatOption, 'human')
    .action(async (options: Omit<BootstrapOptions, 'listen'> & { listen?: string[] }) => {
      await runBootstrap({ ...options, listen: options.listen ?? DEFAULT_BOOTSTRAP_LISTEN })
    })
}

async function runBootstrap (o: BootstrapOptions): Promise<void> {
  if (o.logFormat !== 'human' && o.logFormat !== 'json') throw new InvalidArgumentError(`--log-format must be human or json, not ${String(o.logFormat)}`)
  const runs = o.run.map(parseRun)
  const logger = createLogger({ format: o.logFormat })
  const bootstrap = o.bootstrap ?? await loadBootstrapList(o.bootstrapList)
  const swarm = createSwarmNode({
    dataDir: o.dataDir, listen: o.listen, announce: o.announce, bootstrap, mdns: o.mdns, ...privateSwarm(o), logger
  })
  let storage: Storage | undefined
  let gossip: Gossip | undefined
  const stopped = Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')])
  try {
    await swarm.start()
    storage = createStorage({ dataDir: o.dataDir, logger }, { libp2p: swarm.libp2p })
    await storage.start()
    gossip = createGossip({ logger }, { pubsub: swarm.pubsub, peerId: swarm.peerId })
    await gossip.start()
    printAddresses(swarm, o.json)
    for (const run of runs) void joinRun(run, storage, gossip, logger)
    await stopped
    logger.info('stopping bootstrap peer')
  } finally {
    await gossip?.stop()
    await storage?.stop()
    await swarm.stop()
  }
}

function printAddresses (swarm: SwarmNode, json: boolean): void {
  const multiaddrs = swarm.getMultiaddrs().map(String)
  if (json) {
    process.stdout.write(JSON.stringify({ peerId: swarm.peerId.toString(), multiaddrs }) + '\n')
  } else {
    process.stdout.write(multiaddrs.map((a) => `${a}\n`).join(''))
  }
}

/** The run manifest comes from the swarm; until it arrives the topic is not relayed. */
async function joinRun (run: string, storage: Storage, gossip: Gossip, logger: Logger): Promise<void> {
  try {
    const manifest = parseResolvedRunManifest(await storage.getJson(CID.parse(run), { timeoutMs: 600_000 }))
    gossip.join(run, createGossipValidator({ run, manifest }))
    logger.info('relaying run', { run })
  } catch (err) {
    logger.error('cannot relay run', { run }, err)
  }
}

function parseRun (text: string): string {
  try {
    return CID.parse(text).toString()
  } catch {
    throw new InvalidArgumentError(`--run expects a run CID, got ${JSON.stringify(text)}`)
  }
}
