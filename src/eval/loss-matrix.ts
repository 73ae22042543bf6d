/**
 * The expert x cluster held-out loss matrix: entry (i, j) is expert i's objective loss on
 * cluster j's held-out shard, with the node's recomputable held-out evaluation (fixed seeds).
 * Healthy experts specialise. Two readings of diagonal dominance are reported: per row (the
 * expert's smallest loss is on its own cluster; clusters differ in difficulty, so an easy cluster
 * can win every row) and per column (on its own cluster's data the expert beats every other
 * expert of its objective: the same data, so the fairer test). DDPM (eps-MSE) and FM (v-MSE)
 * losses have different scales: never compare across objectives.
 */
import { expertHeldOutLoss, type HeldOutEval } from '../checkpoint/expert-score.js'
import type { Checkpoint } from '../checkpoint/format.js'
import { throwIfAborted } from '../hddm-error.js'
import type { AbortOptions } from '../progress.js'

export interface LossMatrix {
  /** Row labels: each expert's cluster and objective. */
  experts: Array<{ cluster: number, objective: string }>
  /** losses[i][j]: expert i on held-out cluster j. */
  losses: number[][]
  /** Rows whose smallest loss is on the expert's own cluster. */
  diagonalDominantRows: number
  /** Experts that beat every other expert of their objective on their own cluster's held-out data. */
  ownClusterBest: number
  evaluation: HeldOutEval
}

export const LOSS_MATRIX_EVAL: HeldOutEval = { heldOutBatches: 4, batchSize: 64, seed: 7 }

export async function expertClusterLossMatrix (
  experts: Array<{ cluster: number, checkpoint: Checkpoint }>, heldOutShards: Uint8Array[],
  evaluation: HeldOutEval = LOSS_MATRIX_EVAL, options: AbortOptions = {}
): Promise<LossMatrix> {
  const losses: number[][] = []
  let diagonalDominantRows = 0
  for (const e of experts) {
    const row: number[] = []
    for (const shard of heldOutShards) {
      throwIfAborted(options.signal)
      row.push(expertHeldOutLoss(e.checkpoint, shard, evaluation))
      await new Promise(resolve => setImmediate(resolve))
    }
    if (row.indexOf(Math.min(...row)) === e.cluster) diagonalDominantRows++
    losses.push(row)
  }
  const rows = experts.map(e => ({ cluster: e.cluster, objective: String(e.checkpoint.metadata.objective) }))
  const beatsPeersOnOwnCluster = (i: number): boolean => {
    const { cluster, objective } = rows[i]
    return rows.every((o, j) => j === i || o.objective !== objective || losses[j][cluster] > losses[i][cluster])
  }
  const ownClusterBest = rows.filter((_, i) => beatsPeersOnOwnCluster(i)).length
  return { experts: rows, losses, diagonalDominantRows, ownClusterBest, evaluation }
}

/** The matrix as aligned text rows (for the CLI and the docs). */
export function formatLossMatrix (m: LossMatrix): string[] {
  const header = ['expert \\ cluster', ...m.losses[0]?.map((_, j) => String(j)) ?? []]
  const rows = m.losses.map((row, i) => {
    const { cluster, objective } = m.experts[i]
    return [`${cluster} (${objective})`, ...row.map(v => v.toFixed(4))]
  })
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map(r => r[c].length)))
  return [header, ...rows].map(r => r.map((v, c) => v.padStart(widths[c])).join('  '))
}
