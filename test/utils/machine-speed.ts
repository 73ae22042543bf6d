/**
 * How fast this machine trains now, measured, so that tests of whole swarms budget their waits
 * by it instead of by a fixed number of seconds: on a busy 2-core CI machine the same swarm
 * takes three times as long as alone, and a fixed budget fails there by chance.
 *
 * The measure is the one thing every contributor does most: a step of a `tiny` expert, batch 16,
 * on the backend a node picks. Budgets are written for the reference machine below and scale by
 * how much slower this one is, never down: the written budget is the floor.
 */
import { buildShards, clusterDataset, encodeShard, loadMnist, takeDataset } from '../../src/data/index.js'
import { trainTinyExpert } from '../checkpoint/fixtures.js'
import { useTrainingBackend } from './backend.js'

/**
 * Milliseconds per `tiny` step (batch 16, native kernels) on the machine the budgets were written
 * for, the project's 2-core machine with nothing else running. It is an estimate: that machine is
 * shared, and the fastest measured was 25 ms at load 6 (35-550 ms at load 10-17), where other
 * benchmarks ran 2-4x slower than idle (docs/RESULTS.md). Too low a value only lengthens budgets.
 */
export const REFERENCE_MS_PER_STEP = 12

/** Slowdowns beyond this are taken as this: a machine that slow should fail and say so. */
const MAX_SLOWDOWN = 4

export interface MachineSpeed {
  /** Milliseconds one `tiny` step took here (the median of several). */
  msPerStep: number
  /** How much slower than the reference machine this one is now: at least 1, at most MAX_SLOWDOWN. */
  slowdown: number
  /** A budget written for the reference machine, scaled to this one. */
  budget: (referenceMs: number) => number
  /** One line for the test's output, so that a CI log shows what the budgets were based on. */
  summary: string
}

/** Trains a `tiny` expert for a few steps here and times them (about a second on the reference machine). */
export async function measureMachineSpeed (steps = 16): Promise<MachineSpeed> {
  const backend = await useTrainingBackend()
  const data = takeDataset(await loadMnist({ split: 'test' }), 200)
  const clustering = await clusterDataset(data, { k: 2, seed: 0, fine: 8 })
  const shard = encodeShard(buildShards(data, clustering, { heldOutFraction: 0.1, seed: 0 })[0].train)
  const ends: number[] = []
  await trainTinyExpert({ shard, objective: 'fm', steps, onStep: (_, at) => { ends.push(at) } })
  // The first steps build kernels and buffers; the rest are what a long run is made of.
  const intervals = ends.slice(3).map((t, i) => t - ends[i + 2]).sort((a, b) => a - b)
  const msPerStep = intervals[Math.floor(intervals.length / 2)]
  return speedOf(msPerStep, backend.name)
}

export function speedOf (msPerStep: number, backend = 'unknown'): MachineSpeed {
  const slowdown = Math.min(MAX_SLOWDOWN, Math.max(1, msPerStep / REFERENCE_MS_PER_STEP))
  return {
    msPerStep,
    slowdown,
    budget: (referenceMs) => Math.round(referenceMs * slowdown),
    summary: `machine speed: ${msPerStep.toFixed(1)} ms per tiny step on ${backend} ` +
      `(reference ${REFERENCE_MS_PER_STEP} ms): budgets x${slowdown.toFixed(2)}`
  }
}
