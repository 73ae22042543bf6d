/**
 * The checkpoints announced for each task, each peer's most advanced one (compareCheckpoints).
 * Checkpoints do not expire: a newer announcement of a peer supersedes its older one.
 */
import { compareCheckpoints, type ApplyOutcome, type CheckpointInfo } from './claim-types.js'
import { innerMap } from './nested-map.js'

export class CheckpointBook {
  private readonly byTask = new Map<string, Map<string, CheckpointInfo>>()

  /** Keeps `info` if it is its peer's most advanced checkpoint of `task` so far. */
  put (task: string, info: CheckpointInfo): Extract<ApplyOutcome, 'applied' | 'duplicate' | 'superseded'> {
    const current = this.byTask.get(task)?.get(info.peer)
    if (current !== undefined && compareCheckpoints(info, current) <= 0) {
      return current.cid === info.cid ? 'duplicate' : 'superseded'
    }
    innerMap(this.byTask, task).set(info.peer, info)
    return 'applied'
  }

  /** The most advanced checkpoint of `task` (highest step, then final, then latest). */
  best (task: string): CheckpointInfo | undefined {
    let best: CheckpointInfo | undefined
    for (const c of this.byTask.get(task)?.values() ?? []) {
      if (best === undefined || compareCheckpoints(c, best) > 0) best = c
    }
    return best
  }

  /** Every peer's most advanced checkpoint of `task`, best first. */
  ranked (task: string): CheckpointInfo[] {
    return [...this.byTask.get(task)?.values() ?? []].sort((a, b) => compareCheckpoints(b, a))
  }
}
