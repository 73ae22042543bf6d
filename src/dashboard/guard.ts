/**
 * DNS-rebinding and cross-site protection. A page on another site can make the browser send
 * requests to 127.0.0.1, and a rebound DNS name can even make them same-origin: the one thing
 * such a request cannot fake is its Host header, which names the attacker's domain. So the
 * server answers only Hosts that are an IP literal, `localhost`, or a name the operator listed,
 * on its own port; a request that carries an Origin (every browser POST, every cross-origin
 * fetch) must come from that same origin, and a browser's Sec-Fetch-Site must not say another site.
 */
import { isIP } from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'
import { DashboardRequestError } from './errors.js'

export interface RequestGuardInit {
  /** The port the server listens on. */
  port: number
  /** Host names the dashboard also answers to (a DNS name in front of it); IP literals and localhost always. */
  allowedHosts?: readonly string[]
}

/** Why a request must be refused (403), or undefined when it may be served. */
export function refuseForeignRequest (
  headers: IncomingHttpHeaders, init: RequestGuardInit
): DashboardRequestError | undefined {
  const host = headers.host?.toLowerCase()
  if (host === undefined || host === '') return refusal('a request without a Host header')
  const parsed = splitHost(host)
  if (parsed === undefined) return refusal(`a malformed Host header "${host}"`)
  const allowed = new Set((init.allowedHosts ?? []).map((h) => h.toLowerCase()))
  const known = isIP(parsed.name) !== 0 || parsed.name === 'localhost' || allowed.has(parsed.name)
  if (!known || parsed.port !== init.port) return refusal(`Host "${host}", which is not this dashboard's`)
  const origin = headers.origin
  if (origin !== undefined && origin.toLowerCase() !== `http://${host}`) {
    return refusal(`a request from origin "${origin}", which is not this dashboard's`)
  }
  const site = headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return refusal(`a ${String(site)} request (Sec-Fetch-Site)`)
  }
  return undefined
}

function refusal (what: string): DashboardRequestError {
  return new DashboardRequestError(403, `refused ${what}`)
}

/** `name:port`, `[v6]:port` or `name` (port 80) -> its parts; undefined when malformed. */
function splitHost (host: string): { name: string, port: number } | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(host)
  if (match === null) return undefined
  const name = match[1].startsWith('[') ? match[1].slice(1, -1) : match[1]
  if (match[1].startsWith('[') && isIP(name) !== 6) return undefined
  return { name, port: match[2] === undefined ? 80 : Number(match[2]) }
}
