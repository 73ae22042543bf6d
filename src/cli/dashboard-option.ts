/**
 * `--dashboard [host:port]` of `hddm-node start` and `simulate`: the node's live web page
 * (src/dashboard, docs/OPERATIONS.md "Dashboard"). Loopback unless a host is named; a named
 * host that is not an IP literal is also the one Host name the page answers to besides
 * `localhost` and IP literals (guard.ts).
 */
import { isIP } from 'node:net'
import { Option } from 'commander'
import {
  createDashboard, DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT, isLoopbackHost, parseDashboardAddress,
  type Dashboard, type DashboardAddress, type DashboardInit
} from '../dashboard/index.js'
import type { Logger } from '../logger.js'

export interface DashboardFlag {
  dashboard?: DashboardAddress | false
}

const DEFAULT_ADDRESS = `${DEFAULT_DASHBOARD_HOST}:${DEFAULT_DASHBOARD_PORT}`

export const dashboardOption = (): Option =>
  new Option('--dashboard [host:port]', 'serve a live web page of the node (coverage, curves, peers, samples) at ' +
    `http://<host:port>/; without a value ${DEFAULT_ADDRESS}; port 0 picks a free port (the URL is printed)`)
    .preset(DEFAULT_ADDRESS)
    .argParser((value: string) => parseDashboardAddress(value))

/**
 * Starts the page (before the node, so that a busy port fails the command before it joins the
 * swarm); `attach` the node once it has started. Undefined when the flag is absent.
 * @throws DashboardListenError
 */
export async function startDashboard (
  address: DashboardAddress | false | undefined, init: Omit<DashboardInit, 'host' | 'port'> & { logger: Logger }
): Promise<Dashboard | undefined> {
  if (address === undefined || address === false) return undefined
  const { host, port } = address
  const dashboard = createDashboard({ ...init, host, port, allowedHosts: isIP(host) === 0 ? [host] : [] })
  await dashboard.start()
  if (!isLoopbackHost(host)) {
    init.logger.warn('the dashboard is reachable beyond this machine: read-only, no sampling; ' +
      'prefer loopback and an SSH tunnel', { url: dashboard.url })
  }
  return dashboard
}
