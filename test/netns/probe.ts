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
import { LineRpcChild } from './line-rpc.js'
import type { Internet } from './internet.js'
import type { ProbeRequest } from './tcp-probe.js'
import type { ChildProcess } from 'node:child_process'

export class Probe extends LineRpcChild<ProbeRequest> {
  constructor (host: string, child: ChildProcess) {
    super(host, child, 'probe')
  }

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
}

/** Starts a probe process in `host`'s namespace; it ends with the internet's `stop()`. */
export async function startProbe (internet: Internet, host: string): Promise<Probe> {
  const child = internet.spawn(host, process.execPath, ['--import', 'tsx', 'test/netns/tcp-probe.ts'],
    { stdio: ['pipe', 'pipe', 'pipe'] })
  const probe = new Probe(host, child)
  await probe.ready()
  return probe
}
