/**
 * `simulate`'s one page for the whole local swarm: started before the swarm (its URL is among
 * the first lines printed), fed the contributors' JSON events as simulate reads them (training
 * curves, task phases), and given the observer node once the run exists: the coverage map,
 * peers, verdicts, a gallery of every expert's newest checkpoint, and the ensemble at the end.
 */
import { Option } from 'commander'
import { parseDashboardAddress, type DashboardAddress } from '../dashboard/index.js'
import { startDashboard } from './dashboard-option.js'
import type { Logger } from '../logger.js'
import type { HddmNode } from '../node/hddm-node.js'
import type { Peer } from './simulate-peers.js'
import type { StepEvent } from './simulate-progress.js'

export interface SwarmDashboard {
  /** Records a contributor's events under its name (`node-2`). */
  watch: (name: string, peer: Peer) => void
  /** Shows the run through this started observer. */
  attach: (observer: HddmNode) => void
  stop: () => Promise<void>
}

/** On by default, at 127.0.0.1 on a free port; `--no-dashboard` turns it off. */
export const swarmDashboardOption = (): Option =>
  new Option('--dashboard [host:port]', 'where to serve the live page of the swarm (its URL is printed at start)')
    .preset('127.0.0.1:0')
    .default(parseDashboardAddress('127.0.0.1:0'), '127.0.0.1:0')
    .argParser((value: string) => parseDashboardAddress(value, 0))

export async function startSwarmDashboard (
  address: DashboardAddress | false, say: (line: string) => void, logger: Logger
): Promise<SwarmDashboard | undefined> {
  const dashboard = await startDashboard(address, { title: 'local swarm', gallery: { source: 'run' }, logger })
  if (dashboard === undefined) return undefined
  say(`dashboard ${dashboard.url} (live view of the swarm)`)
  const { state } = dashboard
  return {
    watch: (name, peer) => {
      peer.events.on('line', (m) => {
        if (m.event === 'step') state.recordStep(name, m as unknown as StepEvent)
        else if (m.event === 'task') state.log(`${name} ${String(m.task)}: ${String(m.phase)}`)
        else if (m.event === 'started') state.log(`${name} started, peer ${String(m.peerId)}`)
      })
    },
    attach: (observer) => { dashboard.attach(observer) },
    stop: async () => { await dashboard.stop() }
  }
}
