import type { TaskCoverage } from '../network/claim-types.js'
import type { CheckpointCandidate } from './verify.js'

/**
 * Every final checkpoint the coverage maps know of (this node's and its peers'), as candidates
 * for verification: replicas are all kept (a row's `finals`), the same (task, CID) once.
 * A row from a peer that predates `finals` still offers its best checkpoint if it is final.
 */
export function candidatesFromCoverage (views: TaskCoverage[][]): CheckpointCandidate[] {
  const byKey = new Map<string, CheckpointCandidate>()
  for (const view of views) {
    for (const row of view) {
      const finals = row.finals ?? (row.checkpoint?.final === true ? [row.checkpoint] : [])
      for (const info of finals) {
        const key = `${row.task}\u0000${info.cid}`
        const seen = byKey.get(key)
        if (seen === undefined) {
          byKey.set(key, { task: row.task, cid: info.cid, peers: [info.peer], announcedLoss: info.heldOutLoss })
        } else if (!seen.peers!.includes(info.peer)) {
          seen.peers!.push(info.peer)
        }
      }
    }
  }
  return [...byKey.values()]
}
