/**
 * The test side of tcp-probe.ts: one probe process per host, and typed requests to it.
 *
 * @example
 * ```ts
 * const [a, b] = await Promise.all([startProbe(net, 'pub-1'), startProbe(net, 'home-1')])
 * const { port } = await a.listen(net.host('pub-1').ip)
 * expect(await b.connect(net.host('pub-1').ip, port)).toEqual({ connected: true })
 * ```
 */
import { createInterface } from 'node:readline'
import { waitFor } from '../utils/wait.js'
import type { Internet } from './internet.js'
import type { ProbeRequest } from './tcp-probe.js'
import type { ChildProcess } from 'node:child_process'

type Answer = Record<string, unknown> & { id: number, error?: string }

export class Probe {
  readonly host: string
  private readonly child: ChildProcess
  private readonly answers = new Map<number, Answer>()
  private next = 1
  private stderr = ''

  constructor (host: string, child: ChildProcess) {
    this.host = host
    this.child = child
    child.stderr?.on('data', (chunk: Buffer) => { this.stderr += chunk.toString() })
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const answer = JSON.parse(line) as Answer
        this.answers.set(answer.id, answer)
      } catch {}
    })
  }

  async ready (): Promise<void> { await this.answer(0, 60_000) }

  async listen (host: string, port = 0): Promise<{ port: number }> {
    return await this.request({ op: 'listen', host, port })
  }

  /** Remote addresses of the connections the listener accepted, in order. */
  async accepted (): Promise<string[]> {
    return (await this.request<{ remotes: string[] }>({ op: 'accepted' })).remotes
  }

  /** Opens a connection and closes it; `reason` (ECONNREFUSED, ETIMEDOUT...) says why it failed. */
  async connect (host: string, port: number, timeoutMs = 10_000): Promise<{ connected: boolean, reason?: string }> {
    const { connected, reason } = await this.request<{ connected: boolean, reason?: string }>(
      { op: 'connect', host, port, timeoutMs }, timeoutMs + 30_000)
    return reason === undefined ? { connected } : { connected, reason }
  }

  /** Sends `bytes` to a listener. @returns the throughput in Mbit/s, until the listener had them all */
  async send (host: string, port: number, bytes: number): Promise<number> {
    const { ms } = await this.request<{ ms: number }>({ op: 'send', host, port, bytes }, 120_000)
    return bytes * 8 / 1e6 / (ms / 1000)
  }

  /** Round-trip times of `count` 1-byte pings to a listener, in ms. */
  async rtt (host: string, port: number, count = 5): Promise<number[]> {
    return (await this.request<{ ms: number[] }>({ op: 'rtt', host, port, count })).ms
  }

  private async request<T> (request: ProbeRequest, timeoutMs = 60_000): Promise<T> {
    const id = this.next++
    this.child.stdin!.write(JSON.stringify({ id, ...request }) + '\n')
    return await this.answer(id, timeoutMs) as T
  }

  private async answer (id: number, timeoutMs: number): Promise<Answer> {
    const answer = await waitFor(() => this.answers.get(id) ?? this.child.exitCode !== null,
      `the probe on ${this.host} to answer request ${id}`, { timeoutMs, intervalMs: 10, explain: () => this.stderr })
    if (answer === true) throw new Error(`the probe on ${this.host} exited: ${this.stderr}`)
    if (answer.error !== undefined) throw new Error(`probe on ${this.host}: ${answer.error}`)
    return answer
  }
}

/** Starts a probe process in `host`'s namespace; it ends with the internet's `stop()`. */
export async function startProbe (internet: Internet, host: string): Promise<Probe> {
  const child = internet.spawn(host, process.execPath, ['--import', 'tsx', 'test/netns/tcp-probe.ts'],
    { stdio: ['pipe', 'pipe', 'pipe'] })
  const probe = new Probe(host, child)
  await probe.ready()
  return probe
}
