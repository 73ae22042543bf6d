/**
 * A node's Prometheus endpoint: `GET /metrics` over plain HTTP answers its registry (libp2p's
 * metrics and hddm's, node-metrics.ts) in the text exposition format. It binds 127.0.0.1 unless
 * told otherwise: the endpoint has no authentication and says what the node does, so serving
 * it to other machines is a choice the operator makes by naming an address.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { silentLogger, type Logger } from '../logger.js'
import { MetricsListenError } from './errors.js'
import { LOOPBACK_HOST, listenUrl, parseListenAddress, type ListenAddress } from './listen-address.js'
import type { Registry } from 'prom-client'

export const DEFAULT_METRICS_HOST = LOOPBACK_HOST
/** The default port of OpenTelemetry's Prometheus exporter, the usual one for a process's own metrics. */
export const DEFAULT_METRICS_PORT = 9464

export interface MetricsServerInit {
  /** @default DEFAULT_METRICS_HOST */
  host?: string
  /** 0 picks a free port (see `url`). @default DEFAULT_METRICS_PORT */
  port?: number
  logger?: Logger
}

export interface MetricsServerComponents {
  registry: Pick<Registry, 'metrics' | 'contentType'>
}

export class MetricsServer {
  private readonly host: string
  private readonly port: number
  private readonly log: Logger
  private server?: Server

  constructor (init: MetricsServerInit, private readonly components: MetricsServerComponents) {
    this.host = init.host ?? DEFAULT_METRICS_HOST
    this.port = init.port ?? DEFAULT_METRICS_PORT
    this.log = (init.logger ?? silentLogger).child('metrics')
  }

  /** @throws MetricsListenError when the address cannot be bound */
  async start (): Promise<void> {
    if (this.server !== undefined) return
    const server = createServer((req, res) => { void this.answer(req, res) })
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(this.port, this.host, () => { server.off('error', reject); resolve() })
      })
    } catch (err) {
      const message = `cannot serve metrics on ${this.host}:${this.port}: ${(err as Error).message}`
      throw new MetricsListenError(message, { cause: err })
    }
    this.server = server
    this.log.info('metrics endpoint listening', { url: this.url })
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    // A scraper keeps its connection open between scrapes; close() alone would wait for it.
    server.closeAllConnections()
    await closed
  }

  /** `http://<host>:<port>/metrics` with the port actually bound. */
  get url (): string {
    const address = this.server?.address() as AddressInfo | null | undefined
    if (address == null) throw new MetricsListenError('the metrics endpoint is not listening')
    return listenUrl(address.address, address.port, '/metrics')
  }

  private async answer (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: metrics are at /metrics\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    try {
      const { registry } = this.components
      const body = await registry.metrics()
      // One connection per scrape: a scrape every few seconds costs nothing to connect, and an idle
      // kept-alive connection races the server's keep-alive timeout, late whenever training holds
      // the main thread, so that the next scrape is reset (seen in test/node/metrics.test.ts).
      const headers = { 'content-type': registry.contentType, connection: 'close' }
      res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : body)
    } catch (err) {
      this.log.warn('metrics scrape failed', {}, err)
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('the scrape failed; see the node log\n')
    }
  }
}

/**
 * `--metrics [host:port]`: the node's one listen-address parser with the metrics' default port.
 * @throws InvalidArgumentError
 */
export function parseMetricsAddress (text: string | true): ListenAddress {
  return parseListenAddress(text, '--metrics', DEFAULT_METRICS_PORT)
}

/** Builds an unstarted endpoint; `await server.start()` listens. */
export function createMetricsServer (init: MetricsServerInit, components: MetricsServerComponents): MetricsServer {
  return new MetricsServer(init, components)
}
