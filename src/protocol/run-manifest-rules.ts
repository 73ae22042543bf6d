/**
 * The rules of a run manifest's task list that no single field's schema can say: unique ids,
 * one router, every cluster covered by an expert, one expert per (cluster, objective), and
 * DDPM->FM initialisation only from a DDPM expert of the run.
 */
import type { z } from 'zod'
import { MAX_CLUSTERS } from './limits.js'

/** The shape of a parsed manifest these rules read (written out, so that this file needs no schema). */
export interface TaskList {
  k: number
  tasks: Array<
    | { id: string, kind: 'expert', cluster: number, objective: string, init?: TaskInit }
    | { id: string, kind: 'router' }
  >
}

type TaskInit = { fromTask: string } | { fromCid: string }

/** Cross-field rules a schema cannot say alone; each problem is reported at its path. */
export function checkTasks (m: TaskList, ctx: z.RefinementCtx): void {
  const issue = (path: Array<string | number>, message: string): void => {
    ctx.addIssue({ code: 'custom', path, message })
  }
  const byId = new Map<string, (typeof m.tasks)[number]>()
  m.tasks.forEach((task, i) => {
    if (byId.has(task.id)) issue(['tasks', i, 'id'], `duplicate task id ${task.id}`)
    byId.set(task.id, task)
  })
  const routers = m.tasks.filter((task) => task.kind === 'router')
  if (routers.length !== 1) issue(['tasks'], `exactly one router task is required, found ${routers.length}`)
  const covered = new Set<number>()
  const pairs = new Set<string>()
  m.tasks.forEach((task, i) => {
    if (task.kind !== 'expert') return
    if (task.cluster >= m.k) issue(['tasks', i, 'cluster'], `cluster ${task.cluster} is outside 0..${m.k - 1}`)
    covered.add(task.cluster)
    const pair = `${task.cluster}/${task.objective}`
    if (pairs.has(pair)) {
      issue(['tasks', i], `a second ${task.objective} expert for cluster ${task.cluster}; use replicas instead`)
    }
    pairs.add(pair)
    if (task.init === undefined) return
    if (task.objective !== 'fm') issue(['tasks', i, 'init'], 'only flow-matching experts start from a DDPM checkpoint')
    if ('fromTask' in task.init) {
      const from = byId.get(task.init.fromTask)
      if (from?.kind !== 'expert' || from.objective !== 'ddpm') {
        issue(['tasks', i, 'init', 'fromTask'], `${task.init.fromTask} is not a DDPM expert task of this run`)
      }
    }
  })
  // zod runs this refinement even when `k` broke its own bound (2^53 is an int): counting only
  // clusters that can exist keeps a hostile manifest from looping (and allocating) 2^53 times.
  for (let c = 0; c < Math.min(m.k, MAX_CLUSTERS); c++) {
    if (!covered.has(c)) issue(['tasks'], `cluster ${c} has no expert task`)
  }
}
