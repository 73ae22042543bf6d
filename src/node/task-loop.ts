/**
 * The contributor's loop (docs/PROTOCOL.md section 5.2): pick a free task by rendezvous hash,
 * claim it, confirm after a settle window that the claim won, train it, keep the lease alive,
 * announce checkpoints by CID, release it, and take the next one.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { TypedEventEmitter } from '@libp2p/interface'
import { AbortError } from '../hddm-error.js'
import { silentLogger, type Logger } from '../logger.js'
import { pickTask } from '../network/rendezvous.js'
import { fetchTaskInputs } from './task-inputs.js'
import type { FinalVerifier } from './final-verifier.js'
import type { RunState } from './run-state.js'
import type { TaskStepDetail, TaskTrainer, TaskTrainRequest } from './task-trainer.js'
import { budgetOf, type RunTask } from '../protocol/run-manifest.js'
import type { Storage } from '../storage/helia.js'

export type TaskPhase =
  'claiming' | 'lost-claim' | 'fetching' | 'training' | 'done' | 'lost-lease' | 'stopped' | 'failed'

export interface TaskLoopEvents {
  task: CustomEvent<{ task: string, phase: TaskPhase, resumedFromStep?: number }>
  step: CustomEvent<TaskStepDetail & { task: string }>
  checkpoint: CustomEvent<{ task: string, cid: string, step: number, final: boolean, heldOutLoss: number }>
  /** No task is left for this node (all final, or its `maxTasks` reached); it keeps serving. */
  idle: CustomEvent<{ completed: number }>
}

export interface TaskLoopInit {
  /** Where task directories go: `<runDir>/<task id>/`. */
  runDir: string
  /** Tasks to train before only serving; default unlimited. */
  maxTasks?: number
  /** Wait after claiming before checking that the claim won. @default 2000 */
  settleMs?: number
  /** Period of progress renewals and re-claims. @default min(leaseMs / 4, 5000) */
  beaconMs?: number
  /** Listen this long before the first claim, to learn who holds what. @default beaconMs + settleMs */
  syncMs?: number
  /** Deadline of each shard or checkpoint fetch. @default 120_000 */
  fetchTimeoutMs?: number
  logger?: Logger
}

export interface TaskLoopComponents {
  state: RunState
  storage: Pick<Storage, 'getBytes' | 'addBytes' | 'provide'>
  trainer: TaskTrainer
  /** Which tasks are done: a final verified here, never an announcement alone. */
  finals: Pick<FinalVerifier, 'isDone' | 'isPending' | 'acceptedFinals' | 'addEventListener' | 'removeEventListener'>
  self: string
}

export class TaskLoop extends TypedEventEmitter<TaskLoopEvents> {
  private readonly init: Required<Omit<TaskLoopInit, 'logger'>>
  private readonly c: TaskLoopComponents
  private readonly log: Logger
  private controller?: AbortController
  private running?: Promise<void>
  /** Tasks this node lost a claim on recently, and until when it leaves them alone. */
  private readonly avoid = new Map<string, number>()
  /** Announced checkpoints that failed as resume points here. */
  private readonly refused = new Set<string>()
  private completed = 0

  constructor (init: TaskLoopInit, components: TaskLoopComponents) {
    super()
    const settleMs = init.settleMs ?? 2000
    const beaconMs = init.beaconMs ?? Math.min(components.state.manifest.leaseMs / 4, 5000)
    this.init = {
      runDir: init.runDir,
      maxTasks: init.maxTasks ?? Infinity,
      settleMs,
      beaconMs,
      syncMs: init.syncMs ?? beaconMs + settleMs,
      fetchTimeoutMs: init.fetchTimeoutMs ?? 120_000
    }
    this.c = components
    this.log = (init.logger ?? silentLogger).child('tasks')
  }

  start (): void {
    if (this.running !== undefined) return
    this.controller = new AbortController()
    const signal = this.controller.signal
    this.running = this.loop(signal).catch((err) => {
      if (!signal.aborted) this.log.error('task loop failed', {}, err)
    })
  }

  /** Aborts training (the trainer writes a last checkpoint, which is announced) and releases the claim. */
  async stop (): Promise<void> {
    this.controller?.abort()
    await this.running
    this.running = undefined
  }

  private async loop (signal: AbortSignal): Promise<void> {
    if (this.init.maxTasks <= 0) return this.idle()
    await sleep(this.init.syncMs, undefined, { signal })
    while (!signal.aborted && this.completed < this.init.maxTasks) {
      const task = await this.nextTask(signal)
      if (task === undefined) break
      if (!(await this.claim(task, signal))) continue
      await this.work(task, signal)
    }
    if (!signal.aborted) this.idle()
  }

  private idle (): void {
    this.log.info('no task left for this node; serving', { completed: this.completed })
    this.safeDispatchEvent('idle', { detail: { completed: this.completed } })
  }

  /** The next task to claim, waiting for one to free up; undefined when every task is final. */
  private async nextTask (signal: AbortSignal): Promise<RunTask | undefined> {
    const { state } = this.c
    while (true) {
      if (signal.aborted) throw new AbortError()
      const now = state.now()
      const tasks = state.manifest.tasks
      const { finals } = this.c
      if (tasks.every((t) => finals.isDone(t.id) || !this.c.trainer.supports(t))) return undefined
      const free = new Set(state.table.freeTasks(now))
      // A task whose final still awaits its verdict may be done: leave it until it has one.
      const eligible = tasks.filter((t) => free.has(t.id) && !finals.isDone(t.id) && !finals.isPending(t.id) &&
        this.c.trainer.supports(t) && (this.avoid.get(t.id) ?? 0) <= now && this.inputsReady(t))
      if (eligible.length > 0) {
        // A task this node already has local progress on comes first: that is the restart case.
        const local = await this.withLocalProgress(eligible)
        const id = pickTask(this.c.self, this.mostRemaining(local.length > 0 ? local : eligible).map((t) => t.id))
        return eligible.find((t) => t.id === id)
      }
      await this.changeOrTimeout(this.init.beaconMs, signal)
    }
  }

  /**
   * The tasks with the most steps left (docs/PROTOCOL.md section 5.3): a run ends when its last
   * task does, so a task with a longer budget (a DDPM expert's) should start first.
   */
  private mostRemaining (tasks: RunTask[]): RunTask[] {
    const { state } = this.c
    const left = (t: RunTask): number => budgetOf(state.manifest, t).steps - (state.lastCheckpoint(t.id)?.step ?? 0)
    const most = Math.max(...tasks.map(left))
    return tasks.filter((t) => left(t) === most)
  }

  /** An FM expert initialised from another task waits for a verified final of that task. */
  private inputsReady (task: RunTask): boolean {
    if (task.kind !== 'expert' || task.init === undefined || !('fromTask' in task.init)) return true
    return this.c.finals.isDone(task.init.fromTask)
  }

  private async withLocalProgress (tasks: RunTask[]): Promise<RunTask[]> {
    const out: RunTask[] = []
    for (const t of tasks) if (await this.c.trainer.latest(this.taskDir(t.id)) !== undefined) out.push(t)
    return out
  }

  private async claim (task: RunTask, signal: AbortSignal): Promise<boolean> {
    const { state } = this.c
    this.emitTask(task.id, 'claiming')
    await state.claim(task.id)
    await sleep(this.init.settleMs, undefined, { signal })
    if (state.isHeld(task.id)) return true
    // Someone claimed earlier: free our slot at once and leave the task alone for a while.
    this.emitTask(task.id, 'lost-claim')
    await state.release(task.id)
    const backoff = this.init.settleMs * (1 + Math.random())
    this.avoid.set(task.id, state.now() + 4 * backoff)
    await sleep(backoff, undefined, { signal })
    return false
  }

  private async work (task: RunTask, signal: AbortSignal): Promise<void> {
    const { state, trainer, storage, finals } = this.c
    const lost = new AbortController()
    const taskSignal = AbortSignal.any([signal, lost.signal])
    let latest = { step: 0, loss: 0 }
    const beacon = setInterval(() => {
      if (!state.isHeld(task.id)) { lost.abort(); return }
      // Progress renews the lease; the re-claim lets peers that joined late see who holds the task.
      Promise.all([state.progress({ task: task.id, step: latest.step, loss: latest.loss }), state.claim(task.id)])
        .catch((err) => { this.log.warn('lease renewal failed', { task: task.id }, err) })
    }, this.init.beaconMs)
    const dir = this.taskDir(task.id)
    // Checkpoints are announced latest-first: when evaluation and upload fall behind training,
    // older checkpoints are skipped rather than queued (each announcement supersedes the last).
    let published = -1
    let pending: { path: string, step: number } | undefined
    let chain = Promise.resolve()
    const publish = (request: TaskTrainRequest, path: string, step: number): void => {
      const queued = pending !== undefined
      pending = { path, step }
      // A queued publication takes the newest pending checkpoint when its turn comes.
      if (queued) return
      chain = chain.then(async () => {
        const next = pending
        pending = undefined
        if (next === undefined || next.step <= published) return
        try {
          published = await this.publish(task, request, next.path, false)
        } catch (err) {
          this.log.warn('checkpoint publication failed', { task: task.id, step: next.step }, err)
        }
      })
    }
    const drain = async (): Promise<void> => { await chain }
    try {
      await mkdir(dir, { recursive: true })
      this.emitTask(task.id, 'fetching')
      const components = { state, storage, trainer, finals, refused: this.refused, logger: this.log }
      const fetching = { signal: taskSignal, timeoutMs: this.init.fetchTimeoutMs }
      const request = await fetchTaskInputs(task, dir, components, fetching)
      this.emitTask(task.id, 'training', request.resumedFromStep)
      const result = await trainer.train(request, {
        signal: taskSignal,
        onProgress: (evt) => {
          if (evt.type === 'hddm:train:step') {
            latest = { step: evt.detail.step, loss: evt.detail.loss }
            this.safeDispatchEvent('step', { detail: { task: task.id, ...evt.detail } })
          } else if (!evt.detail.final) {
            publish(request, evt.detail.path, evt.detail.step)
          }
        }
      })
      if (result.completed) {
        pending = undefined
        await drain()
        // Not through the queue: a final checkpoint that cannot be announced fails the task.
        if (result.path === undefined) throw new TypeError('a completed training run must leave its checkpoint')
        await this.publish(task, request, result.path, true)
        this.completed++
        this.emitTask(task.id, 'done')
      } else if (lost.signal.aborted && !signal.aborted) {
        this.emitTask(task.id, 'lost-lease')
      } else {
        // Stopping: the trainer wrote a last checkpoint; announce it so a successor resumes from it.
        if (result.path !== undefined) publish(request, result.path, result.step)
        await drain()
        this.emitTask(task.id, 'stopped')
      }
    } catch (err) {
      if (!taskSignal.aborted) {
        this.log.error('task failed', { task: task.id }, err)
        this.emitTask(task.id, 'failed')
        this.avoid.set(task.id, state.now() + state.manifest.leaseMs)
      }
    } finally {
      clearInterval(beacon)
      await drain()
      await state.release(task.id).catch((err) => { this.log.warn('release failed', { task: task.id }, err) })
    }
  }

  /** Exports, stores and announces a checkpoint; returns the step it holds. */
  private async publish (task: RunTask, request: TaskTrainRequest, path: string, final: boolean): Promise<number> {
    const exported = await this.c.trainer.export(request, path, final)
    const cid = await this.c.storage.addBytes(exported.bytes)
    // Peers that are not connected to us find the checkpoint through the swarm DHT. The
    // announcement does not wait for it: fetchers pass our peer id as a provider anyway.
    this.c.storage.provide(cid, { timeoutMs: 30_000 })
      .catch(() => { this.log.debug('provide failed', { cid: cid.toString() }) })
    const body = { task: task.id, cid: cid.toString(), step: exported.step, final, heldOutLoss: exported.heldOutLoss }
    await this.c.state.checkpoint(body)
    this.log.info('checkpoint announced', body)
    this.safeDispatchEvent('checkpoint', { detail: body })
    return exported.step
  }

  private taskDir (task: string): string {
    return join(this.init.runDir, task)
  }

  private emitTask (task: string, phase: TaskPhase, resumedFromStep?: number): void {
    this.log.info('task', { task, phase, ...(resumedFromStep === undefined ? {} : { resumedFromStep }) })
    this.safeDispatchEvent('task', { detail: { task, phase, resumedFromStep } })
  }

  private async changeOrTimeout (ms: number, signal: AbortSignal): Promise<void> {
    const changed = new AbortController()
    const onChange = (): void => { changed.abort() }
    this.c.state.addEventListener('message', onChange, { once: true })
    this.c.finals.addEventListener('verdict', onChange, { once: true })
    try {
      await sleep(ms, undefined, { signal: AbortSignal.any([signal, changed.signal]) })
    } catch {
      if (signal.aborted) throw new AbortError()
    } finally {
      this.c.state.removeEventListener('message', onChange)
      this.c.finals.removeEventListener('verdict', onChange)
    }
  }
}
