/**
 * The dashboard's bind address: the node's one listen-address parser (node/listen-address.ts)
 * with the dashboard's default port.
 */
import { LOOPBACK_HOST, listenUrl, parseListenAddress, type ListenAddress } from '../node/listen-address.js'

export { isLoopbackHost } from '../node/listen-address.js'
export type DashboardAddress = ListenAddress

export const DEFAULT_DASHBOARD_HOST = LOOPBACK_HOST
/** `hddm-node start --dashboard` without an address (Prometheus metrics default to 9464). */
export const DEFAULT_DASHBOARD_PORT = 8470

/**
 * `--dashboard [host:port]`: the flag alone is 127.0.0.1 on `defaultPort`.
 * @throws InvalidArgumentError
 */
export function parseDashboardAddress (value: string | true, defaultPort = DEFAULT_DASHBOARD_PORT): DashboardAddress {
  return parseListenAddress(value, '--dashboard', defaultPort)
}

/** The URL a browser opens for a listening address (wildcard binds are shown as loopback). */
export function dashboardUrl (host: string, port: number): string {
  return listenUrl(host, port)
}
