import { once } from 'node:events'
import { CID } from 'multiformats/cid'
import { InvalidArgumentError } from '../errors.js'
import { createLogger, type LogFormat } from '../logger.js'
import { loadBootstrapList } from '../network/bootstrap-list.js'
import { createBootstrapPeer, type BootstrapPeer } from '../node/bootstrap-peer.js'
import type { Command } from 'commander'
import type { RegisterCommand } from './register-command.js'
import { natInit, natOptions, type NatFlags } from './reachability.js'
import {
  allowPeerOption, collect, logFormatOption, privateSwarm, swarmKeyOption, type PrivateSwarmFlags
} from './options.js'

interface BootstrapOptions extends PrivateSwarmFlags, NatFlags {
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
 * `hddm-node bootstrap`: runs a bootstrap peer (node/bootstrap-peer.ts), prints its multiaddrs
 * and runs until SIGINT or SIGTERM.
 */
export const registerBootstrap: RegisterCommand = (program: Command) => {
  const command = program.command('bootstrap')
    .description('Run a bootstrap peer (DHT, gossip relay, storage; no training) and print its multiaddrs')
    .option('--listen <multiaddr>', 'address to listen on (repeatable)', collect)
    .option('--announce <multiaddr>',
      'address to advertise instead, e.g. a public IP or DNS name (repeatable)', collect, [])
    .option('--data-dir <dir>', 'identity, lock, peer store and blocks', '.hddm-bootstrap')
    .option('--bootstrap <multiaddr>', 'other bootstrap peers to join (repeatable; default: the list file)', collect)
    .option('--bootstrap-list <file>', 'bootstrap list file (default: bootstrap/peers.json of the package)')
    .option('--run <cid>', 'relay and validate this run\'s gossip topic (repeatable)', collect, [])
    .option('--mdns', 'also discover peers on the LAN with multicast DNS', false)
    .addOption(swarmKeyOption())
    .addOption(allowPeerOption())
    .option('--json', 'print {"peerId","multiaddrs"} as one JSON line instead of one address per line', false)
    .option('--log-format <format>', 'human | json (logs go to stderr)', logFormatOption, 'human')
  // A bootstrap peer is public by definition: it relays for peers behind NAT unless told not to.
  for (const option of natOptions(true)) command.addOption(option)
  command.action(async (options: Omit<BootstrapOptions, 'listen'> & { listen?: string[] }) => {
      await runBootstrap({ ...options, listen: options.listen ?? DEFAULT_BOOTSTRAP_LISTEN })
    })
}

async function runBootstrap (o: BootstrapOptions): Promise<void> {
  if (o.logFormat !== 'human' && o.logFormat !== 'json') {
    throw new InvalidArgumentError(`--log-format must be human or json, not ${String(o.logFormat)}`)
  }
  const runs = o.run.map(parseRun)
  const logger = createLogger({ format: o.logFormat })
  const bootstrap = o.bootstrap ?? await loadBootstrapList(o.bootstrapList)
  const peer = createBootstrapPeer({
    dataDir: o.dataDir, listen: o.listen, announce: o.announce, bootstrap, mdns: o.mdns, ...privateSwarm(o),
    ...natInit({ ...o, relay: false }),
    runs, logger
  })
  const stopped = Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')])
  try {
    await peer.start()
    printAddresses(peer, o.json)
    await stopped
    logger.info('stopping bootstrap peer')
  } finally {
    await peer.stop()
  }
}

function printAddresses (peer: BootstrapPeer, json: boolean): void {
  const multiaddrs = peer.multiaddrs()
  if (json) {
    process.stdout.write(JSON.stringify({ peerId: peer.peerId, multiaddrs }) + '\n')
  } else {
    process.stdout.write(multiaddrs.map((a) => `${a}\n`).join(''))
  }
}

function parseRun (text: string): string {
  try {
    return CID.parse(text).toString()
  } catch {
    throw new InvalidArgumentError(`--run expects a run CID, got ${JSON.stringify(text)}`)
  }
}
