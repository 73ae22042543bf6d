/**
 * What `hddm-node simulate` shows while the swarm trains. It reads the contributors' JSON
 * events (step, task, checkpoint) and keeps one row per task of the run: who trains it, step,
 * loss, images/s and ETA, plus an overall line whose ETA plays the remaining work forward on
 * the contributors. On a terminal the rows are progress bars redrawn in place; otherwise one
 * line per task at every tenth of its steps, so a CI log stays short.
 */
import cliProgress from 'cli-progress'
import { budgetOf, type RunManifest, type RunTask } from '../protocol/run-manifest.js'

export interface StepEvent {
  task: string
  step: number
  totalSteps: number
  loss: number
  imagesPerSecond: number
  etaSeconds: number
}

interface TaskRow {
  task: RunTask
  steps: number
  node?: string
  step: number
  loss?: number
  imagesPerSecond?: number
  /** Seconds per step, smoothed. */
  secondsPerStep?: number
  lastStepAt?: number
  done: boolean
  bar?: cliProgress.SingleBar
  /** Tenths already printed (non-terminal output). */
  reported: number
}

export interface SimulationProgressInit {
  manifest: RunManifest
  contributors: number
  /** Where lines go; a TTY stream gets progress bars. */
  out?: NodeJS.WriteStream
  /** Seconds since the simulation started (for plain lines). */
  elapsed: () => string
  /** Milliseconds clock (default performance.now). */
  now?: () => number
}

export class SimulationProgress {
  private readonly rows: Map<string, TaskRow>
  private readonly out: NodeJS.WriteStream
  private readonly bars?: cliProgress.MultiBar
  private readonly overall?: cliProgress.SingleBar
  private readonly now: () => number
  private readonly started: number

  constructor (private readonly init: SimulationProgressInit) {
    this.out = init.out ?? process.stdout
    this.now = init.now ?? (() => performance.now())
    this.started = this.now()
    this.rows = new Map(init.manifest.tasks.map((task) => [task.id, {
      task,
      steps: budgetOf(init.manifest, task).steps,
      step: 0,
      done: false,
      reported: 0
    }]))
    if (this.out.isTTY === true) {
      this.bars = new cliProgress.MultiBar({
        stream: this.out,
        format: '{label} |{bar}| {value}/{total} {detail}',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        autopadding: true
      }, cliProgress.Presets.shades_classic)
      for (const row of this.rows.values()) {
        row.bar = this.bars.create(row.steps, 0, { label: label(row.task).padEnd(22), detail: 'waiting' })
      }
      this.overall = this.bars.create(this.totalSteps(), 0, { label: 'all tasks'.padEnd(22), detail: '' })
    }
  }

  /** A line above the bars (or plain). */
  say (line: string): void {
    if (this.bars !== undefined) this.bars.log(`[${this.init.elapsed()}] ${line}\n`)
    else this.out.write(`[${this.init.elapsed()}] ${line}\n`)
  }

  step (node: string, e: StepEvent): void {
    const row = this.rows.get(e.task)
    if (row === undefined || !(e.step >= 0)) return
    const now = this.now()
    if (row.node !== node) {
      // A new trainer (first claim, or a take-over): its own speed, from its own steps.
      row.node = node
      row.secondsPerStep = undefined
      row.lastStepAt = undefined
    }
    if (row.lastStepAt !== undefined && e.step > row.step) {
      const sample = (now - row.lastStepAt) / 1000 / (e.step - row.step)
      row.secondsPerStep = row.secondsPerStep === undefined ? sample : 0.7 * row.secondsPerStep + 0.3 * sample
    }
    row.lastStepAt = now
    row.step = Math.min(e.step, row.steps)
    row.loss = e.loss
    row.imagesPerSecond = e.imagesPerSecond
    this.render(row)
  }

  done (taskId: string): void {
    const row = this.rows.get(taskId)
    if (row === undefined || row.done) return
    row.done = true
    row.step = row.steps
    this.render(row)
  }

  stop (): void {
    this.bars?.stop()
  }

  /**
   * Seconds until every task is done, playing the remaining work forward on the contributors:
   * running tasks keep theirs, waiting ones start as contributors free up, longest first (as
   * nodes pick them, docs/PROTOCOL.md 5.3), at the measured rate of their kind.
   */
  etaSeconds (): number | undefined {
    const rows = [...this.rows.values()]
    const known = rows.filter((r) => r.secondsPerStep !== undefined)
    if (known.length === 0) return undefined
    const meanRate = (kind: RunTask['kind']): number => {
      const same = known.filter((r) => r.task.kind === kind)
      const pool = same.length > 0 ? same : known
      return pool.reduce((s, r) => s + r.secondsPerStep!, 0) / pool.length
    }
    const free: number[] = []
    const waiting: number[] = []
    for (const r of rows) {
      if (r.done) continue
      const remaining = (r.steps - r.step) * (r.secondsPerStep ?? meanRate(r.task.kind))
      if (r.node !== undefined) free.push(remaining)
      else waiting.push(remaining)
    }
    while (free.length < this.init.contributors) free.push(0)
    free.sort((a, b) => a - b)
    waiting.sort((a, b) => b - a)
    for (const work of waiting) {
      free[0] += work
      free.sort((a, b) => a - b)
    }
    return Math.max(0, ...free)
  }

  private totalSteps (): number {
    return [...this.rows.values()].reduce((s, r) => s + r.steps, 0)
  }

  private render (row: TaskRow): void {
    const detail = detailOf(row)
    const doneSteps = [...this.rows.values()].reduce((s, r) => s + r.step, 0)
    const overall = this.overallDetail()
    if (this.bars !== undefined) {
      row.bar?.update(row.step, { detail })
      this.overall?.update(doneSteps, { detail: overall })
      return
    }
    const tenths = Math.floor(10 * row.step / row.steps)
    if (tenths <= row.reported && !row.done) return
    row.reported = row.done ? 10 : tenths
    const percent = String(Math.round(100 * row.step / row.steps)).padStart(3)
    this.say(`${label(row.task)} ${percent}% ${row.step}/${row.steps}  ${detail}  | ${overall}`)
  }

  /** The overall line: tasks done, the ETA of the whole run, time elapsed. */
  private overallDetail (): string {
    const eta = this.etaSeconds()
    const done = [...this.rows.values()].filter((r) => r.done).length
    const etaText = eta !== undefined ? `  ETA ${duration(eta)}` : ''
    return `${done}/${this.rows.size} done${etaText}  elapsed ${duration((this.now() - this.started) / 1000)}`
  }
}

/** A task's detail: who finished it, or its trainer, loss, images/s and ETA. */
function detailOf (row: TaskRow): string {
  if (row.done) return `done${row.node !== undefined ? ` (${row.node})` : ''}`
  return [
    row.node ?? '',
    row.loss !== undefined ? `loss ${row.loss.toFixed(4)}` : '',
    row.imagesPerSecond !== undefined ? `${row.imagesPerSecond.toFixed(0)} img/s` : '',
    row.secondsPerStep !== undefined ? `ETA ${duration((row.steps - row.step) * row.secondsPerStep)}` : ''
  ].filter((s) => s !== '').join('  ')
}

function label (task: RunTask): string {
  return task.kind === 'router' ? `${task.id} (router)` : `${task.id} (${task.objective}, c${task.cluster})`
}

/** 75 -> '1m15s'. */
export function duration (seconds: number): string {
  if (!Number.isFinite(seconds)) return '-'
  const s = Math.round(seconds)
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`
}
