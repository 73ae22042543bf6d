/**
 * The greedy assignment of live claims to holders (claims.ts, DESIGN section 6): candidates in
 * (ts, peer id, task) order; a claim wins if its task still has fewer than R holders, its peer
 * fewer than maxTasksPerPeer tasks, and its address range fewer than maxTasksPerAddressRange
 * (when set). Deterministic: every peer that knows the same claims assigns the same holders.
 */
import type { ClaimLog } from './claim-log.js'
import { compareIds, type ClaimRefusal, type Holder } from './claim-types.js'

export interface Candidate {
  task: string
  holder: Holder
}

export interface AssignmentLimits {
  replicas: (task: string) => number
  maxTasksPerPeer: number
  maxTasksPerRange?: number
  rangeOf?: (peer: string) => string | undefined
}

/**
 * Each (task, peer)'s live claims at `now` as one candidate, from its earliest claim to its
 * latest lease end. Claims stamped before `countsFrom(task, peer)` (a penalty for missed lease
 * evidence) do not count; a peer left with none is refused as 'no-evidence'.
 */
export function liveCandidates (
  logs: Map<string, Map<string, ClaimLog>>, countsFrom: (task: string, peer: string) => number, now: number,
  refusals: Map<string, ClaimRefusal>
): Candidate[] {
  const candidates: Candidate[] = []
  for (const [task, peers] of logs) {
    for (const [peer, log] of peers) {
      let live = log.live(now)
      if (live.length === 0) continue
      const from = countsFrom(task, peer)
      if (from > -Infinity) live = live.filter((c) => c.ts >= from)
      if (live.length === 0) {
        refusals.set(`${task}\u0000${peer}`, 'no-evidence')
        continue
      }
      const leaseUntil = Math.max(...live.map((c) => c.end))
      candidates.push({ task, holder: { peer, since: live[0].ts, leaseUntil } })
    }
  }
  return candidates
}

/** Holders by task; why each losing claim lost goes into `refusals` under `task \0 peer`. */
export function assignHolders (
  candidates: Candidate[], refusals: Map<string, ClaimRefusal>, limits: AssignmentLimits
): Map<string, Holder[]> {
  candidates.sort((a, b) =>
    a.holder.since - b.holder.since || compareIds(a.holder.peer, b.holder.peer) || compareIds(a.task, b.task))
  const assigned = new Map<string, Holder[]>()
  const load = new Map<string, number>()
  const rangeLoad = new Map<string, number>()
  for (const { task, holder } of candidates) {
    const holders = assigned.get(task) ?? []
    const held = load.get(holder.peer) ?? 0
    const range = limits.maxTasksPerRange === undefined ? undefined : limits.rangeOf?.(holder.peer)
    const rangeFull = range !== undefined && (rangeLoad.get(range) ?? 0) >= (limits.maxTasksPerRange ?? Infinity)
    const refusal: ClaimRefusal | undefined = holders.length >= (limits.replicas(task))
      ? 'task-full'
      : held >= limits.maxTasksPerPeer ? 'peer-full' : rangeFull ? 'range-full' : undefined
    if (refusal !== undefined) {
      refusals.set(`${task}\u0000${holder.peer}`, refusal)
      continue
    }
    holders.push(holder)
    assigned.set(task, holders)
    load.set(holder.peer, held + 1)
    if (range !== undefined) rangeLoad.set(range, (rangeLoad.get(range) ?? 0) + 1)
  }
  return assigned
}
