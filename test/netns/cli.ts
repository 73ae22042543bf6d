/**
 * `hddm-node` processes on the hosts of a test internet: the CLI from its TypeScript sources,
 * started in a host's namespace, with its JSON events and log kept as test/simulation/processes.ts
 * keeps them (so its `describeProcesses`, `logTail` and `stop` work on these too).
 */
import { createInterface } from 'node:readline'
import type { CliProcess } from '../simulation/processes.js'
import type { Internet } from './internet.js'

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
