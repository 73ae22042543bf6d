/**
 * Coverage maps from several views (this node's and its peers'), merged into one: per task, the
 * union of holders (each peer once, with its latest lease and progress), the most advanced
 * checkpoint, by the claim table's own order (step, then final, then latest), and the union of
 * the final checkpoints (replicas).
 */
import { type CheckpointInfo, type Holder, type TaskCoverage, compareCheckpoints } from '../network/claim-types.js'

export function mergeCoverage (views: TaskCoverage[][]): TaskCoverage[] {
  const rows = new Map<string, TaskCoverage>()
  for (const view of views) {
    for (const row of view) {
      const seen = rows.get(row.task)
      if (seen === undefined) {
        rows.set(row.task, { ...row, holders: [...row.holders] })
        continue
      }
      seen.holders = mergeHolders(seen.holders, row.holders)
      seen.checkpoint = better(seen.checkpoint, row.checkpoint)
      const finals = mergeFinals(seen.finals, row.finals)
      if (finals !== undefined) seen.finals = finals
      seen.free = seen.holders.length < seen.replicas
    }
  }
  return [...rows.values()]
}

function mergeHolders (a: Holder[], b: Holder[]): Holder[] {
  const byPeer = new Map(a.map((h) => [h.peer, h]))
  for (const h of b) {
    const seen = byPeer.get(h.peer)
    if (seen === undefined || (h.progressAt ?? h.since) > (seen.progressAt ?? seen.since)) {
      byPeer.set(h.peer, { ...h, leaseUntil: Math.max(h.leaseUntil, seen?.leaseUntil ?? 0) })
    }
  }
  return [...byPeer.values()].sort((x, y) => x.since - y.since || (x.peer < y.peer ? -1 : 1))
}

/** The union of both views' final checkpoints, each (peer, cid) once, best first. */
function mergeFinals (a?: CheckpointInfo[], b?: CheckpointInfo[]): CheckpointInfo[] | undefined {
  if (a === undefined || b === undefined) return a ?? b
  const byKey = new Map([...a, ...b].map((c) => [`${c.peer}/${c.cid}`, c]))
  return [...byKey.values()].sort((x, y) => compareCheckpoints(y, x))
}

function better (a?: CheckpointInfo, b?: CheckpointInfo): CheckpointInfo | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return (b.step - a.step || Number(b.final) - Number(a.final) || b.ts - a.ts) > 0 ? b : a
}

/** One line per task: holder, step, loss, lease left, last checkpoint. */
export function formatCoverage (rows: TaskCoverage[], now: number): string[] {
  const lines = ['task        holder                step     loss      lease    checkpoint']
  for (const row of rows) {
    const h = row.holders[0]
    const c = row.checkpoint
    const holder = h === undefined ? (c?.final === true ? 'done' : 'free') : h.peer
    const step = h?.step ?? c?.step
    const loss = h?.loss === undefined ? '-' : h.loss.toFixed(4)
    const lease = h === undefined ? '-' : `${Math.max(0, Math.round((h.leaseUntil - now) / 1000))}s`
    const checkpoint = c === undefined
      ? '-'
      : `${c.cid} step ${c.step}${c.final ? ' final' : ''} held-out ${c.heldOutLoss.toFixed(4)}`
    const cells = [row.task.padEnd(11), short(holder).padEnd(21), String(step ?? '-').padEnd(8), loss.padEnd(9)]
    lines.push([...cells, lease.padEnd(8), checkpoint].join(' '))
  }
  return lines
}

function short (id: string): string {
  return id.length <= 20 ? id : `${id.slice(0, 8)}…${id.slice(-8)}`
}
