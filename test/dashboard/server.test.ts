import { request, type IncomingMessage } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { createDashboard, type Dashboard } from '../../src/dashboard/dashboard.js'
import { DashboardServer, type DashboardHandlers } from '../../src/dashboard/server.js'
import { waitFor } from '../utils/wait.js'

interface Reply { status: number, headers: IncomingMessage['headers'], body: string }

/** One real HTTP request to 127.0.0.1:port, with exactly the headers given (Host included). */
async function call (port: number, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return await new Promise((resolve, reject) => {
    const method = body === undefined ? 'GET' : 'POST'
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** An open event stream: the events parsed so far. */
interface Stream { events: Array<{ event: string, data: unknown }>, close: () => void }

async function openStream (port: number): Promise<Stream> {
  return await new Promise((resolve, reject) => {
    const events: Stream['events'] = []
    const headers = { Host: `127.0.0.1:${port}` }
    const req = request({ host: '127.0.0.1', port, path: '/api/events', headers }, (res) => {
      let buffer = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = /^event: (.*)$/m.exec(frame)?.[1]
          const data = /^data: (.*)$/m.exec(frame)?.[1]
          if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) })
        }
      })
      resolve({ events, close: () => { req.destroy() } })
    })
    req.on('error', reject)
    req.end()
  })
}

const servers: Array<{ stop: () => Promise<void> }> = []
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop()
})

async function startServer (handlers: Partial<DashboardHandlers> = {}, init = {}): Promise<DashboardServer> {
  const server = new DashboardServer({ host: '127.0.0.1', port: 0, ...init }, {
    snapshot: async () => ({ hello: 'page' }),
    coverageText: () => 'task\n',
    actions: {},
    viewers: () => {},
    ...handlers
  })
  await server.start()
  servers.push(server)
  return server
}

describe('dashboard server: Host and Origin (DNS rebinding, cross-site requests)', () => {
  it('serves its own Host; refuses a foreign Host, another port, a foreign Origin, a cross-site fetch', async () => {
    const { port } = (await startServer({}, { allowedHosts: ['hddm.example'] })).address
    const own = { Host: `127.0.0.1:${port}` }
    const served = [
      own, { Host: `localhost:${port}` }, { Host: `hddm.example:${port}` },
      { ...own, Origin: `http://127.0.0.1:${port}` }, { ...own, 'Sec-Fetch-Site': 'same-origin' }
    ]
    for (const headers of served) {
      const reply = await call(port, '/api/state', headers)
      expect(reply.status, JSON.stringify(headers)).toBe(200)
      expect(JSON.parse(reply.body)).toEqual({ hello: 'page' })
    }
    const refused = [
      { Host: `rebound.attacker.example:${port}` }, { Host: `127.0.0.1:${port + 1}` }, { Host: '127.0.0.1' },
      { ...own, Origin: 'http://attacker.example' }, { ...own, Origin: 'null' },
      { ...own, 'Sec-Fetch-Site': 'cross-site' }
    ]
    for (const headers of refused) {
      const reply = await call(port, '/api/state', headers)
      expect(reply.status, JSON.stringify(headers)).toBe(403)
      expect(reply.body).not.toContain('page')
    }
    // The page itself and the event stream are guarded alike.
    expect((await call(port, '/', { Host: `evil.example:${port}` })).status).toBe(403)
    expect((await call(port, '/api/events', { Host: `evil.example:${port}` })).status).toBe(403)
  })

  it('serves the page, app and both Vega builds from the package, with a CSP that allows only itself', async () => {
    const { port } = (await startServer()).address
    const host = { Host: `127.0.0.1:${port}` }
    const page = await call(port, '/', host)
    expect(page.status).toBe(200)
    expect(page.body).toContain('/vendor/vega-lite.min.js')
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/)
    for (const path of ['/app.js', '/style.css', '/vendor/vega.min.js', '/vendor/vega-lite.min.js']) {
      const reply = await call(port, path, host)
      expect(reply.status, path).toBe(200)
      expect(reply.body.length, path).toBeGreaterThan(1000)
    }
    expect((await call(port, '/vendor/../../package.json', host)).status).toBe(404)
    expect((await call(port, '/api/coverage.txt', host)).body).toBe('task\n')
  })
})

describe('dashboard server: actions', () => {
  it('rate-limits actions with a token bucket and says when to retry', async () => {
    let drawn = 0
    const sample = async (): Promise<unknown> => ({ drawn: ++drawn })
    const limits = { rateLimit: { capacity: 2, refillPerMinute: 1 } }
    const { port } = (await startServer({ actions: { sample } }, limits)).address
    const headers = { Host: `127.0.0.1:${port}`, 'Content-Type': 'application/json' }
    expect((await call(port, '/api/sample', headers, '{}')).status).toBe(200)
    expect((await call(port, '/api/sample', headers, '{}')).status).toBe(200)
    const limited = await call(port, '/api/sample', headers, '{}')
    expect(limited.status).toBe(429)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect(drawn).toBe(2)
  })

  it('takes only JSON, refuses unknown actions, and runs one action at a time', async () => {
    let release = (): void => {}
    const slow = async (): Promise<unknown> => await new Promise((resolve) => { release = () => { resolve({}) } })
    const { port } = (await startServer({ actions: { slow } }, { rateLimit: { capacity: 10 } })).address
    const json = { Host: `127.0.0.1:${port}`, 'Content-Type': 'application/json' }
    const text = { Host: `127.0.0.1:${port}`, 'Content-Type': 'text/plain' }
    expect((await call(port, '/api/slow', text, '{}')).status).toBe(415)
    expect((await call(port, '/api/nothing', json, '{}')).status).toBe(404)
    expect((await call(port, '/api/slow', json, 'not json')).status).toBe(400)
    const first = call(port, '/api/slow', json, '{}')
    const second = async (): Promise<boolean> => (await call(port, '/api/slow', json, '{}')).status === 429
    await waitFor(second, 'a second action to be refused')
    release()
    expect((await first).status).toBe(200)
    // A cross-site form cannot post: its Origin is not the dashboard's.
    expect((await call(port, '/api/slow', { ...json, Origin: 'http://attacker.example' }, '{}')).status).toBe(403)
  })
})

describe('dashboard: Server-Sent Events', () => {
  it('sends a snapshot, then what the state collector records, and counts its viewers', async () => {
    const dashboard: Dashboard = createDashboard({ title: 'test swarm' })
    await dashboard.start()
    servers.push(dashboard)
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    const port = Number(new URL(dashboard.url).port)
    const stream = await openStream(port)
    try {
      const snapshot = await waitFor(() => stream.events.find((e) => e.event === 'snapshot'), 'the snapshot')
      expect(snapshot.data).toMatchObject({ title: 'test swarm', coverage: [], steps: [] })
      dashboard.state.log('expert-1: training')
      const step = { task: 'expert-1', step: 3, totalSteps: 10, loss: 0.5, imagesPerSecond: 40, etaSeconds: 7 }
      dashboard.state.recordStep('node-2', step)
      const log = await waitFor(() => stream.events.find((e) => e.event === 'log'), 'a log event')
      expect(log.data).toMatchObject({ text: 'expert-1: training' })
      const point = await waitFor(() => stream.events.find((e) => e.event === 'step'), 'a step event')
      expect(point.data).toMatchObject({ task: 'expert-1', who: 'node-2', step: 3, loss: 0.5, imagesPerSecond: 40 })
    } finally {
      stream.close()
    }
  })
})
