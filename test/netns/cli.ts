/**
 * `hddm-node` processes on the hosts of a test internet: the CLI from its TypeScript sources,
 * started in a host's namespace, with its JSON events and log kept as test/simulation/processes.ts
 * keeps them (so its `describeProcesses`, `logTail` and `stop` work on these too).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../../src/network/identity.js'
import { stop, type CliProcess } from '../simulation/processes.js'
import { createInternet, type Internet, type InternetInit } from './internet.js'

export interface HostCli extends CliProcess {
  /** Everything it printed on stdout: `status` prints text, not JSON events. */
  stdout: () => string
}

export function runCliOn (net: Internet, host: string, args: string[], name = `${args[0]}@${host}`): HostCli {
  const child = net.spawn(host, process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args])
  const events: Array<Record<string, unknown>> = []
  let stdout = ''
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    stdout += line + '\n'
    try {
      events.push(JSON.parse(line) as Record<string, unknown>)
    } catch {}
  })
  // 'close', not 'exit': only then has every line been read.
  const exited = new Promise<number | null>((resolve) => { child.on('close', (code) => { resolve(code) }) })
  return { name, child, events, stderr: () => stderr, stdout: () => stdout, exited }
}

/**
 * One test's test internet with its scratch folder and every `hddm-node` it started, torn down
 * together (processes first, then the namespaces, then the folder).
 */
export class NetnsRun {
  readonly processes: HostCli[] = []

  private constructor (readonly net: Internet, readonly root: string) {}

  static async create (topology: InternetInit, name: string): Promise<NetnsRun> {
    const root = await mkdtemp(join(tmpdir(), `hddm-${name}-`))
    try {
      return new NetnsRun(await createInternet(topology), root)
    } catch (err) {
      await rm(root, { recursive: true, force: true })
      throw err
    }
  }

  ip (host: string): string { return this.net.host(host).ip }

  /** Starts `hddm-node <args>` on `host`; `stop()` ends it. */
  run (host: string, args: string[], name?: string): HostCli {
    const p = runCliOn(this.net, host, args, name)
    this.processes.push(p)
    return p
  }

  /**
   * A bootstrap peer on `host`: its identity is made first, as an operator does for a bootstrap
   * list, so its address is known before it runs and other nodes can start beside it.
   * @returns its process and its full multiaddr
   */
  async startBootstrap (host: string, port: number): Promise<{ boot: HostCli, addr: string }> {
    const dir = join(this.root, host)
    await mkdir(dir, { recursive: true })
    const id = peerIdFromPrivateKey(await loadOrCreateIdentity(dir)).toString()
    const listen = `/ip4/${this.ip(host)}/tcp/${port}`
    const boot = this.run(host, ['bootstrap', '--listen', listen, '--data-dir', dir, '--json', '--log-format', 'json'])
    return { boot, addr: `${listen}/p2p/${id}` }
  }

  async stop (): Promise<void> {
    await Promise.all(this.processes.map(stop))
    await this.net.stop()
    await rm(this.root, { recursive: true, force: true, maxRetries: 5 })
  }
}
