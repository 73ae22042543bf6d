import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

/** A `hddm-node` process (TypeScript sources through tsx) and the JSON events it printed. */
export interface CliProcess {
  child: ChildProcess
  events: Array<Record<string, unknown>>
  stderr: () => string
  exited: Promise<number | null>
}

export function runCli (args: string[]): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const events: Array<Record<string, unknown>> = []
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>)
    } catch {}
  })
  // 'close', not 'exit': only then has every line the process printed been read into `events`.
  const exited = new Promise<number | null>((resolve) => { child.on('close', (code) => { resolve(code) }) })
  return { child, events, stderr: () => stderr, exited }
}

export async function waitFor<T> (probe: () => T | undefined | false, what: string, timeoutMs = 240_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const value = probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

export async function stop (p: CliProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return
  p.child.kill('SIGTERM')
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 30_000)
  await p.exited
  clearTimeout(timer)
}
