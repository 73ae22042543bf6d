/**
 * What `hddm-node start` shows while it runs. On a terminal: a live view redrawn in place (task,
 * objective, step/total, loss, images/s, ETA, peers, last checkpoint). Otherwise: one JSON
 * object per line on stdout for every node event, which is what `simulate` and scripts read.
 */
import type { HddmNode } from '../node/hddm-node.js'
import type { TaskStepDetail } from '../node/task-trainer.js'

export interface NodeOutput {
  stop: () => void
}

/** JSON lines on `out` for every node event: `{"event":"checkpoint","task":...}`. */
export function jsonEvents (node: HddmNode, out: NodeJS.WritableStream = process.stdout): NodeOutput {
  const write = (event: string, detail: unknown): void => {
    const fields = typeof detail === 'object' && detail !== null ? detail : { value: detail }
    out.write(JSON.stringify({ event, ts: Date.now(), ...fields }) + '\n')
  }
  const types = ['run', 'task', 'checkpoint', 'idle'] as const
  const listeners = types.map((type) => {
    const listener = (evt: CustomEvent): void => { write(type, evt.detail) }
    node.addEventListener(type, listener)
    return [type, listener] as const
  })
  // Steps are many; one line per second per task is plenty for a log.
  let lastStep = 0
  const onStep = (evt: CustomEvent<TaskStepDetail & { task: string }>): void => {
    const now = Date.now()
    if (now - lastStep < 1000 && evt.detail.step !== evt.detail.totalSteps) return
    lastStep = now
    write('step', evt.detail)
  }
  node.addEventListener('step', onStep)
  return {
    stop: () => {
      for (const [type, listener] of listeners) node.removeEventListener(type, listener)
      node.removeEventListener('step', onStep)
    }
  }
}

interface ViewState {
  task?: string
  phase?: string
  step?: TaskStepDetail
  checkpoint?: { cid: string, step: number, final: boolean }
  completed: number
}

/** A block of lines redrawn in place twice a second. */
export function liveView (node: HddmNode, out: NodeJS.WriteStream = process.stdout): NodeOutput {
  const state: ViewState = { completed: 0 }
  let drawn = 0
  node.addEventListener('task', (evt) => {
    state.task = evt.detail.task
    state.phase = evt.detail.phase
    if (evt.detail.phase === 'done') state.completed++
  })
  node.addEventListener('step', (evt) => { state.step = evt.detail })
  node.addEventListener('checkpoint', (evt) => { state.checkpoint = evt.detail })
  node.addEventListener('idle', () => { state.phase = 'serving (no free task left)' })

  const draw = (): void => {
    if (node.status !== 'started') return
    const lines = render(node, state)
    const moveUp = drawn > 0 ? `\x1b[${drawn}F` : ''
    out.write(moveUp + lines.map((l) => `\x1b[2K${l.slice(0, out.columns ?? 120)}`).join('\n') + '\n')
    drawn = lines.length
  }
  const timer = setInterval(draw, 500)
  return { stop: () => { clearInterval(timer) } }
}

function render (node: HddmNode, s: ViewState): string[] {
  const peers = node.peers()
  const task = node.manifest.tasks.find((t) => t.id === s.task)
  const kind = task === undefined
    ? ''
    : task.kind === 'router' ? ' (router)' : ` (${task.objective}, cluster ${task.cluster})`
  const step = s.step
  const progress = step === undefined
    ? '-'
    : [
        `${step.step}/${step.totalSteps}`, `loss ${step.loss.toFixed(4)}`,
        `${step.imagesPerSecond.toFixed(0)} img/s`, `ETA ${duration(step.etaSeconds)}`
      ].join('  ')
  const checkpoint = s.checkpoint === undefined
    ? '-'
    : `${s.checkpoint.cid} (step ${s.checkpoint.step}${s.checkpoint.final ? ', final' : ''})`
  const who = `hddm-node ${short(node.peerId)}  run ${short(node.runId)}`
  const lines = [
    `${who}  peers ${peers.connected} (in run ${peers.run})  done ${s.completed}`,
    `task      ${s.task ?? '-'}${kind}  ${s.phase ?? 'waiting'}`,
    `step      ${progress}`,
    `checkpoint ${checkpoint}`
  ]
  const cover = node.coverage().map((row) => {
    const holder = row.holders[0]
    const what = row.checkpoint?.final === true
      ? 'final'
      : holder !== undefined ? `${short(holder.peer)}@${holder.step ?? 0}` : 'free'
    return `${row.task}:${what}`
  })
  lines.push(`coverage  ${cover.join('  ')}`)
  return lines
}

export function short (id: string): string {
  return id.length <= 14 ? id : `${id.slice(0, 6)}…${id.slice(-6)}`
}

export function duration (seconds: number): string {
  if (!Number.isFinite(seconds)) return '-'
  const s = Math.max(0, Math.round(seconds))
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
}
