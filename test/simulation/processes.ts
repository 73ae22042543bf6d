import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { type TaskCoverage } from '../../src/network/claim-types.js'

/** A `hddm-node` process (TypeScript sources through tsx) and the JSON events it printed. */
export interface CliProcess {
  /** What reports call it: its data directory's name, or the command. */
  name: string
  child: ChildProcess
  events: Array<Record<string, unknown>>
  stderr: () => string
  exited: Promise<number | null>
}

export function runCli (args: string[], name = args[0]): CliProcess {
  const cliArgs = ['--import', 'tsx', 'src/cli/bin.ts', ...args]
  const child = spawn(process.execPath, cliArgs, { stdio: ['ignore', 'pipe', 'pipe'] })
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
  return { name, child, events, stderr: () => stderr, exited }
}

export async function stop (p: CliProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return
  p.child.kill('SIGTERM')
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 30_000)
  await p.exited
  clearTimeout(timer)
}

/** The last `lines` lines a process logged, without debug lines (JSON logs at level 20). */
export function logTail (p: CliProcess, lines = 30): string {
  return p.stderr().split('\n').filter((l) => l !== '' && !l.includes('"level":20')).slice(-lines).join('\n')
}

/**
 * What each process was doing, for a timeout: whether it still runs, how long ago it printed its
 * last event (a slow machine prints steps late; a stalled node prints none), its task and
 * checkpoint events, and the tail of its log.
 */
export function describeProcesses (processes: CliProcess[], logLines = 20): string {
  const now = Date.now()
  return processes.map((p) => {
    const ended = p.child.exitCode ?? p.child.signalCode
    const status = ended === null ? 'running' : `exited ${String(ended)}`
    const last = p.events.at(-1)
    const quiet = typeof last?.ts === 'number' ? `last event ${seconds(now - last.ts)} s ago` : 'no event yet'
    const tasks = p.events.filter((e) => e.event === 'task' || e.event === 'checkpoint').map((e) => {
      const task = e.task as string
      if (e.event === 'checkpoint') return `${task} ckpt@${e.step as number}${e.final === true ? ' final' : ''}`
      const from = e.resumedFromStep === undefined ? '' : ` from ${e.resumedFromStep as number}`
      return `${task} ${e.phase as string}${from}`
    })
    return `--- ${p.name} (${status}, ${quiet}): ${tasks.join(', ')}\n${logTail(p, logLines)}`
  }).join('\n')
}

/**
 * A coverage map as a reader needs it on a timeout: per task, its holders (with their last
 * progress and lease end, relative to now), its most advanced checkpoint and its finals.
 */
export function describeCoverage (rows: TaskCoverage[], now = Date.now()): string {
  const ago = (t: number): string => `${seconds(now - t)} s ago`
  const peer = (id: string): string => id.slice(-6)
  return rows.map((r) => {
    const holders = r.holders.map((h) => {
      const progress = h.progressAt === undefined ? 'no progress' : `step ${h.step ?? '?'} ${ago(h.progressAt)}`
      return `${peer(h.peer)} (claimed ${ago(h.since)}, ${progress}, lease ends in ${seconds(h.leaseUntil - now)} s)`
    })
    const c = r.checkpoint
    const checkpoint = c === undefined ? 'none' : `step ${c.step}${c.final ? ' final' : ''} by ${peer(c.peer)}`
    const finals = (r.finals ?? []).map((f) => peer(f.peer)).join(' ')
    const held = holders.length === 0 ? 'none' : holders.join('; ')
    return `${r.task}: holders ${held}; checkpoint ${checkpoint}; finals [${finals}]`
  }).join('\n')
}

function seconds (ms: number): string {
  return (ms / 1000).toFixed(0)
}
