/**
 * The bind address of a node's local HTTP services (`--dashboard`, `--metrics`): `host:port`,
 * `[v6]:port`, `host`, `:port` or `port`, loopback when no host is given. One parser, so both
 * flags take the same forms; binding beyond loopback is always the user's explicit choice.
 */
import { isIP } from 'node:net'
import { InvalidArgumentError } from '../hddm-error.js'

export interface ListenAddress {
  host: string
  /** 0: any free port (the service logs its URL). */
  port: number
}

export const LOOPBACK_HOST = '127.0.0.1'

/**
 * Parses a flag's value: `true` (the flag alone) or '' is loopback on `defaultPort`, a missing
 * host is loopback, a missing port `defaultPort`, port 0 any free port.
 * @throws InvalidArgumentError naming `flag`
 */
export function parseListenAddress (value: string | true, flag: string, defaultPort: number): ListenAddress {
  if (value === true || value === '') return { host: LOOPBACK_HOST, port: defaultPort }
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(value)
  const [host, port] = v6 !== null
    ? [v6[1], v6[2]]
    : /^\d+$/.test(value) ? ['', value] : value.includes(':') ? value.split(':', 2) : [value, undefined]
  const portNumber = port === undefined || port === '' ? defaultPort : Number(port)
  if (!/^\d*$/.test(port ?? '') || !Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535) {
    throw new InvalidArgumentError(`${flag}: bad port in "${value}" (expected host:port, port 0-65535)`)
  }
  if (v6 !== null && isIP(host) !== 6) throw new InvalidArgumentError(`${flag}: "${host}" is not an IPv6 address`)
  if (v6 === null && value.split(':').length > 2) {
    throw new InvalidArgumentError(`${flag}: write an IPv6 address in brackets, e.g. [::1]:8080 (got "${value}")`)
  }
  return { host: host === '' ? LOOPBACK_HOST : host, port: portNumber }
}

/** Whether only this machine can reach the address (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost (host: string): boolean {
  const h = host.toLowerCase()
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'))
}

/** The URL a browser or scraper opens for a listening address (wildcard binds are shown as loopback). */
export function listenUrl (host: string, port: number, path = '/'): string {
  const shown = host === '0.0.0.0' ? LOOPBACK_HOST : host === '::' ? '::1' : host
  return `http://${isIP(shown) === 6 ? `[${shown}]` : shown}:${port}${path}`
}
