/**
 * The dashboard's bind address: `host:port`, `[v6]:port`, `host` or `:port`, loopback when no
 * host is given. Binding beyond loopback is the caller's explicit choice (docs/OPERATIONS.md).
 */
import { isIP } from 'node:net'
import { InvalidArgumentError } from '../hddm-error.js'

export interface DashboardAddress {
  host: string
  /** 0: any free port (the URL says which). */
  port: number
}

export const DEFAULT_DASHBOARD_HOST = '127.0.0.1'
/** `hddm-node start --dashboard` without an address (Prometheus metrics default to 9464). */
export const DEFAULT_DASHBOARD_PORT = 8470

/**
 * Parses `--dashboard [host:port]`: `true` (the flag alone) is 127.0.0.1 on `defaultPort`, a
 * missing host is 127.0.0.1, a missing port `defaultPort`, port 0 any free port.
 * @throws InvalidArgumentError
 */
export function parseDashboardAddress (value: string | true, defaultPort = DEFAULT_DASHBOARD_PORT): DashboardAddress {
  if (value === true || value === '') return { host: DEFAULT_DASHBOARD_HOST, port: defaultPort }
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(value)
  const [host, port] = v6 !== null
    ? [v6[1], v6[2]]
    : /^\d+$/.test(value) ? ['', value] : value.includes(':') ? value.split(':', 2) : [value, undefined]
  const portNumber = port === undefined || port === '' ? defaultPort : Number(port)
  if (!Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535) {
    throw new InvalidArgumentError(`--dashboard: bad port in "${value}" (expected host:port, port 0-65535)`)
  }
  if (v6 !== null && isIP(host) !== 6) throw new InvalidArgumentError(`--dashboard: "${host}" is not an IPv6 address`)
  if (v6 === null && value.split(':').length > 2) {
    throw new InvalidArgumentError(`--dashboard: write an IPv6 address in brackets, e.g. [::1]:8080 (got "${value}")`)
  }
  return { host: host === '' ? DEFAULT_DASHBOARD_HOST : host, port: portNumber }
}

/** Whether only this machine can reach the address (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost (host: string): boolean {
  const h = host.toLowerCase()
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'))
}

/** The URL a browser opens for a listening address (wildcard binds are shown as loopback). */
export function dashboardUrl (host: string, port: number): string {
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${isIP(shown) === 6 ? `[${shown}]` : shown}:${port}/`
}
