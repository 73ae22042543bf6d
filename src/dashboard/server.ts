/**
 * The dashboard's HTTP server (node:http): the page and its assets, a JSON snapshot, the
 * coverage map as `status` prints it, a Server-Sent Events stream of updates, and POST actions.
 * Every request passes the Host/Origin guard first (guard.ts); every action takes a token from
 * one bucket and runs alone. Reads change nothing in the node.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { silentLogger, type Logger } from '../logger.js'
import { AssetStore } from './assets.js'
import { DashboardListenError, DashboardRequestError } from './errors.js'
import { refuseForeignRequest } from './guard.js'
import { TokenBucket, type TokenBucketInit } from './rate-limit.js'

export interface DashboardServerInit {
  host: string
  /** 0: any free port. */
  port: number
  /** Host names besides IP literals and localhost that the server answers to. */
  allowedHosts?: readonly string[]
  /** Open event streams at most. @default 32 */
  maxClients?: number
  /** Comment lines that keep idle streams open through proxies. @default 15_000 */
  heartbeatMs?: number
  rateLimit?: TokenBucketInit
  logger?: Logger
}

export interface DashboardHandlers {
  snapshot: () => Promise<unknown>
  coverageText: () => string
  /** POST /api/<name>: JSON in, JSON out; throw DashboardRequestError to refuse. */
  actions: Record<string, (body: unknown, signal: AbortSignal) => Promise<unknown>>
  /** The number of open event streams changed (work that only a viewer needs can pause). */
  viewers: (count: number) => void
}

interface Client {
  res: ServerResponse
  /** Events that arrived while the snapshot was being written. */
  queue?: string[]
}

const MAX_BODY_BYTES = 4096
/** A stream whose client reads this far behind is dropped rather than buffered without end. */
const MAX_BUFFERED_BYTES = 4 << 20

const SECURITY_HEADERS = {
  // Vega compiles its expressions with Function(): 'unsafe-eval' (scripts still only from here).
  'Content-Security-Policy': "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin'
}

export class DashboardServer {
  private readonly init: DashboardServerInit
  private readonly log: Logger
  private readonly assets = new AssetStore()
  private readonly bucket: TokenBucket
  private readonly clients = new Set<Client>()
  private readonly controller = new AbortController()
  private server?: Server
  private heartbeat?: NodeJS.Timeout
  private action?: Promise<unknown>
  private port = 0

  constructor (init: DashboardServerInit, private readonly handlers: DashboardHandlers) {
    this.init = init
    this.log = (init.logger ?? silentLogger).child('dashboard')
    this.bucket = new TokenBucket(init.rateLimit)
  }

  /** The bound address (the port chosen when 0 was asked). */
  get address (): { host: string, port: number } { return { host: this.init.host, port: this.port } }

  /** @throws DashboardListenError when the address cannot be bound */
  async start (): Promise<void> {
    if (this.server !== undefined) return
    const server = createServer((req, res) => { this.handle(req, res) })
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(this.init.port, this.init.host, () => { server.off('error', reject); resolve() })
      })
    } catch (err) {
      const where = `${this.init.host}:${this.init.port}`
      const hint = this.init.port !== 0 ? ' (port 0 picks a free one)' : ''
      throw new DashboardListenError(`cannot serve the dashboard on ${where}: ${(err as Error).message}${hint}`)
    }
    this.server = server
    this.port = (server.address() as AddressInfo).port
    this.heartbeat = setInterval(() => { this.broadcastRaw(': ping\n\n') }, this.init.heartbeatMs ?? 15_000)
    this.heartbeat.unref()
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    clearInterval(this.heartbeat)
    this.controller.abort()
    for (const client of this.clients) client.res.end()
    this.clients.clear()
    await this.action?.catch(() => {})
    const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    server.closeAllConnections()
    await closed
  }

  /** Sends an event to every open stream. */
  broadcast (event: string, data: unknown): void {
    if (this.clients.size > 0) this.broadcastRaw(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  }

  private broadcastRaw (frame: string): void {
    for (const client of this.clients) {
      if (client.queue !== undefined) { client.queue.push(frame); continue }
      client.res.write(frame)
      if (client.res.writableLength > MAX_BUFFERED_BYTES) this.drop(client)
    }
  }

  private handle (req: IncomingMessage, res: ServerResponse): void {
    this.route(req, res).catch((err) => {
      const known = err instanceof DashboardRequestError
      if (!known) this.log.warn('dashboard request failed', { path: req.url }, err)
      if (res.headersSent) { res.destroy(); return }
      const status = known ? err.status : 500
      const headers: Record<string, string> = {}
      if (known && err.retryAfterSeconds !== undefined) headers['Retry-After'] = String(err.retryAfterSeconds)
      const body = JSON.stringify({ error: known ? err.message : 'internal error' })
      this.send(res, status, 'application/json', body, headers)
    })
  }

  private async route (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refused = refuseForeignRequest(req.headers, { port: this.port, allowedHosts: this.init.allowedHosts })
    if (refused !== undefined) {
      this.log.warn('dashboard request refused', { reason: refused.message, path: req.url })
      throw refused
    }
    const path = new URL(req.url ?? '/', 'http://dashboard').pathname
    if (req.method === 'POST' && path.startsWith('/api/')) return await this.act(path.slice('/api/'.length), req, res)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new DashboardRequestError(405, `${String(req.method)} is not served`)
    }
    if (path === '/api/events') return await this.stream(res)
    if (path === '/api/state') {
      return this.send(res, 200, 'application/json', JSON.stringify(await this.handlers.snapshot()))
    }
    if (path === '/api/coverage.txt') {
      return this.send(res, 200, 'text/plain; charset=utf-8', this.handlers.coverageText())
    }
    const asset = this.assets.has(path) ? await this.assets.get(path) : undefined
    if (asset === undefined) throw new DashboardRequestError(404, `nothing at ${path}`)
    const cache = asset.immutable ? 'public, max-age=86400' : 'no-cache'
    this.send(res, 200, asset.type, req.method === 'HEAD' ? '' : asset.body, { 'Cache-Control': cache })
  }

  private async stream (res: ServerResponse): Promise<void> {
    if (this.clients.size >= (this.init.maxClients ?? 32)) throw new DashboardRequestError(503, 'too many open pages')
    const client: Client = { res, queue: [] }
    this.clients.add(client)
    res.on('close', () => { this.drop(client) })
    this.handlers.viewers(this.clients.size)
    res.writeHead(200, {
      ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no'
    })
    res.write('retry: 3000\n\n')
    try {
      res.write(`event: snapshot\ndata: ${JSON.stringify(await this.handlers.snapshot())}\n\n`)
    } finally {
      for (const frame of client.queue ?? []) res.write(frame)
      client.queue = undefined
    }
  }

  private drop (client: Client): void {
    if (!this.clients.delete(client)) return
    client.res.destroy()
    this.handlers.viewers(this.clients.size)
  }

  private async act (name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const action = Object.hasOwn(this.handlers.actions, name) ? this.handlers.actions[name] : undefined
    if (action === undefined) throw new DashboardRequestError(404, `no action ${name}`)
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
      throw new DashboardRequestError(415, 'actions take application/json')
    }
    const body = await readBody(req)
    if (this.action !== undefined) throw new DashboardRequestError(429, 'another action is running', 5)
    const token = this.bucket.take()
    if (!token.ok) {
      const seconds = Math.ceil(token.retryAfterMs / 1000)
      throw new DashboardRequestError(429, `too many actions: try again in ${seconds} s`, seconds)
    }
    this.action = action(body, this.controller.signal)
    try {
      this.send(res, 200, 'application/json', JSON.stringify(await this.action))
    } finally {
      this.action = undefined
    }
  }

  private send (
    res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}
  ): void {
    res.writeHead(status, {
      ...SECURITY_HEADERS, 'Cache-Control': 'no-store', ...headers, 'Content-Type': type,
      'Content-Length': Buffer.byteLength(body)
    })
    res.end(body)
  }
}

async function readBody (req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new DashboardRequestError(413, `a request body over ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown
  } catch {
    throw new DashboardRequestError(400, 'the request body is not JSON')
  }
}
