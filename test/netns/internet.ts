/**
 * A small internet inside this machine, for tests that need peers on different hosts: public
 * hosts on one segment, NAT routers with private LANs behind them, slow or delayed links
 * (topology.ts has the picture). Built from Linux network namespaces; needs root.
 *
 * @example
 * ```ts
 * const net = await createInternet({ public: ['boot'], nats: [{ name: 'nat-1', hosts: ['home'] }] })
 * try {
 *   const server = net.spawn('boot', 'node', ['server.js', '--listen', net.host('boot').ip])
 *   const { stdout } = await net.exec('home', 'node', ['client.js', net.host('boot').ip])
 * } finally {
 *   await net.stop()
 * }
 * ```
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { HddmError } from '../../src/hddm-error.js'
import { waitFor } from '../utils/wait.js'
import { relayArgv, relayRouting, relayUnrouting } from './delay-relay.js'
import { deleteNamespace, namespacesWith, newPrefix, sweepStaleNamespaces, TOOLS_ENV } from './names.js'
import { planInternet, tbf, type Host, type HostSpec, type InternetInit, type Plan } from './topology.js'

export type { Host, HostSpec, InternetInit, NatSpec } from './topology.js'

/** What `shape` sets on a link: HostSpec's rate, delay and jitter. */
export type LinkShape = Pick<HostSpec, 'rateMbit' | 'delayMs' | 'jitterMs'>

/** A command the harness ran failed; `message` has the command and its stderr. */
export class NetnsCommandError extends HddmError {
  static override name = 'NetnsCommandError'
  override name = 'NetnsCommandError'
}

export interface ExecResult { code: number, stdout: string, stderr: string }

export interface ExecOptions {
  /** Kill the command after this long. @default 60_000 */
  timeoutMs?: number
  /** Resolve with a non-zero exit code instead of throwing NetnsCommandError. @default false */
  allowFailure?: boolean
  env?: NodeJS.ProcessEnv
}

/** Runs argv in the machine's own namespace (argv[0] is `ip`, `tc`...). */
async function run (argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv
  return await new Promise((resolve, reject) => {
    const child = execFile(file, args, {
      env: options.env ?? TOOLS_ENV, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024
    }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      if (code !== 0 && options.allowFailure !== true) {
        reject(new NetnsCommandError(`${argv.join(' ')} exited with ${String(err?.code ?? err?.signal)}: ` +
          `${stderr.trim() || err?.message}`))
      } else {
        resolve({ code, stdout, stderr })
      }
    })
    child.stdin?.end()
  })
}

export class Internet {
  readonly prefix: string
  private readonly plan: Plan
  private readonly children = new Set<ChildProcess>()
  /** The delay relay of each delayed host, by host name. */
  private readonly relays = new Map<string, ChildProcess>()
  private started = false

  constructor (init: InternetInit = {}, prefix = newPrefix()) {
    this.prefix = prefix
    this.plan = planInternet(prefix, init)
  }

  /** Every host, routers included. */
  get hosts (): Host[] { return this.plan.hosts }

  host (name: string | Host): Host {
    if (typeof name !== 'string') return name
    const host = this.plan.hosts.find((h) => h.name === name)
    if (host === undefined) throw new NetnsCommandError(`no host ${name} in this internet`)
    return host
  }

  /**
   * Sweeps the namespaces of dead earlier runs, builds this one and starts the delay relays.
   * A failure part way removes whatever was built.
   */
  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    try {
      await sweepStaleNamespaces()
      for (const argv of this.plan.commands) await run(argv)
      await Promise.all(this.plan.hosts.filter((h) => (h.spec.delayMs ?? 0) > 0 || (h.spec.jitterMs ?? 0) > 0)
        .map(async (h) => { await this.startRelay(h) }))
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  /** Runs a command in a host's namespace and collects its output. @throws NetnsCommandError on a non-zero exit */
  async exec (host: string | Host, command: string, args: string[] = [], options: ExecOptions = {}):
  Promise<ExecResult> {
    return await run(['ip', 'netns', 'exec', this.host(host).ns, command, ...args], options)
  }

  /**
   * Starts a long-running process in a host's namespace (`ip netns exec` execs it, so the child
   * is the process itself). `stop()` ends whatever is still running.
   */
  spawn (host: string | Host, command: string, args: string[] = [], options: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.host(host).ns, command, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], ...options, env: { ...TOOLS_ENV, ...options.env }
    })
    this.children.add(child)
    child.once('exit', () => { this.children.delete(child) })
    return child
  }

  /**
   * Changes a host's link on the running internet, as if it had been built so: its tbf on both
   * ends (removed without `rateMbit`) and its delay relay (restarted with the new delay, stopped
   * without one). Packets the old relay still held are lost, as on a link that changes under load.
   */
  async shape (name: string, link: LinkShape): Promise<void> {
    const host = this.host(name)
    for (const [ns, dev] of host.linkEnds) {
      await run(['tc', '-n', ns, 'qdisc', 'del', 'dev', dev, 'root'], { allowFailure: true })
      if (link.rateMbit !== undefined) await run(tbf(ns, dev, link.rateMbit))
    }
    await this.stopRelay(host)
    host.spec = { name: host.spec.name, ...link }
    if ((link.delayMs ?? 0) > 0 || (link.jitterMs ?? 0) > 0) await this.startRelay(host)
  }

  /**
   * Forwards TCP `port` on a router's public address to `port` on one of its private hosts, as
   * a user does on a home router to be reachable.
   */
  async forwardPort (nat: string, port: number, host: string): Promise<void> {
    const router = this.host(nat)
    const target = this.host(host)
    if (router.role !== 'router' || target.nat !== router.name) {
      throw new NetnsCommandError(`${host} is not behind the router ${nat}`)
    }
    const iptables = (...args: string[]): string[] => ['ip', 'netns', 'exec', router.ns, 'iptables', ...args]
    const match = ['-p', 'tcp', '--dport', String(port)]
    await run(iptables('-t', 'nat', '-A', 'PREROUTING', '-i', 'wan0', ...match,
      '-j', 'DNAT', '--to-destination', `${target.ip}:${port}`))
    await run(iptables('-I', 'FORWARD', '-i', 'wan0', '-o', 'lan0', '-d', target.ip, ...match, '-j', 'ACCEPT'))
  }

  /**
   * Ends the processes started in the internet (SIGTERM, then SIGKILL after `graceMs`) and
   * deletes every namespace with this internet's prefix, which removes its links, rules and
   * qdiscs with it. Never throws; safe to call twice.
   */
  async stop (graceMs = 5_000): Promise<void> {
    await Promise.all([...this.children].map(async (child) => { await end(child, graceMs) }))
    for (const ns of await namespacesWith(this.prefix)) await deleteNamespace(ns)
  }

  private async startRelay (host: Host): Promise<void> {
    const [command, ...args] = relayArgv(host)
    const relay = this.spawn(host, command, args)
    this.relays.set(host.name, relay)
    let stderr = ''
    relay.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const lines = createInterface({ input: relay.stdout! })
    let ready = false
    lines.on('line', (line) => { if (line === 'ready') ready = true })
    await waitFor(() => ready || relay.exitCode !== null, `the delay relay of ${host.name}`, { timeoutMs: 30_000 })
    if (!ready) throw new NetnsCommandError(`the delay relay of ${host.name} exited: ${stderr}`)
    for (const argv of relayRouting(host)) await run(argv)
  }

  /** Ends a host's relay, if it has one; its TUN device and route go with it, the rule is removed. */
  private async stopRelay (host: Host): Promise<void> {
    const relay = this.relays.get(host.name)
    if (relay === undefined) return
    this.relays.delete(host.name)
    await end(relay, 1000)
    for (const argv of relayUnrouting(host)) await run(argv, { allowFailure: true })
  }
}

async function end (child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/** Builds and starts an internet; `await net.stop()` removes it (put that in afterAll or finally). */
export async function createInternet (init: InternetInit = {}): Promise<Internet> {
  const internet = new Internet(init)
  await internet.start()
  return internet
}
