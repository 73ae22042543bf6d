/**
 * How verifiers score an expert (src/checkpoint/expert-score.ts). The trivial predictor knows
 * what the expert was trained on: fitted to the few held-out images it is judged on, it "knew"
 * them, and an honest expert of a small run was refused (the chaos test's ones cluster). And
 * scoring runs on a node's main thread, so it must let the event loop run and stop when told.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeShard, type Shard } from '../../src/data/shard.js'
import { decodeCheckpoint, type Checkpoint } from '../../src/checkpoint/format.js'
import { pixelMoments, ROWS_PER_PASS, scoreExpert } from '../../src/checkpoint/expert-score.js'
import { useTrainingBackend } from '../utils/backend.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { createEnsembleRun, trainedExpert } from '../ensemble/fixtures.js'

let node: TestNode
let checkpoint: Checkpoint
let heldOut: Uint8Array
let train: Shard
beforeAll(async () => {
  await useTrainingBackend()
  node = await createTestNode()
  const run = await createEnsembleRun(node.storage, 'expert-score-test')
  checkpoint = decodeCheckpoint(await trainedExpert(run, node.storage, 'expert-1', 5))
  const shards = run.manifest.resolved.shards[1]
  heldOut = await node.storage.getBytes(shards.heldOut)
  train = decodeShard(await node.storage.getBytes(shards.train))
}, 60_000)
afterAll(async () => { await node.stop() })

describe('scoreExpert', () => {
  it('gives the per-pixel Gaussian the train shard\'s moments when told, not the scored shard\'s', async () => {
    expect(decodeShard(heldOut).header.count).toBeLessThan(20)
    const settings = { batches: 2, batchSize: 8, seed: 5 }
    const own = await scoreExpert(checkpoint, heldOut, settings)
    const fair = await scoreExpert(checkpoint, heldOut, { ...settings, moments: pixelMoments(train) })
    // The expert's own losses do not depend on the predictor; only the baseline moves, up: the
    // held-out images' own moments fit them better than any honest reference (draws are seeded).
    expect(fair.prompted).toBe(own.prompted)
    expect(fair.baseline).toBeGreaterThan(own.baseline)
  })

  it('lets the event loop run between batches', async () => {
    let turns = 0
    const ticker = setInterval(() => { turns++ }, 0)
    try {
      await scoreExpert(checkpoint, heldOut, { batches: 4, batchSize: 8, seed: 5 })
    } finally {
      clearInterval(ticker)
    }
    expect(turns).toBeGreaterThanOrEqual(3)
  })

  it('hands the loop back every 16 rows, not every batch, and the loss does not change', async () => {
    const turnsWhile = async (rowsPerPass: number): Promise<{ turns: number, prompted: number }> => {
      let turns = 0
      let ticking = true
      const tick = (): void => { turns++; if (ticking) setImmediate(tick) }
      setImmediate(tick)
      try {
        const { prompted } = await scoreExpert(checkpoint, heldOut, { batches: 2, batchSize: 64, seed: 5, rowsPerPass })
        return { turns, prompted }
      } finally {
        ticking = false
      }
    }
    const whole = await turnsWhile(64)
    const sliced = await turnsWhile(ROWS_PER_PASS)
    expect(ROWS_PER_PASS).toBe(16)
    // 2 batches x 2 passes (prompt, null prompt): 4 turns in whole batches, 16 in slices of 16 rows.
    expect(whole.turns).toBeLessThanOrEqual(5)
    expect(sliced.turns).toBeGreaterThanOrEqual(15)
    expect(sliced.prompted).toBeCloseTo(whole.prompted, 5)
  })

  it('stops between batches when aborted, and frees what it held', async () => {
    const tensors = tf.memory().numTensors
    const controller = new AbortController()
    setImmediate(() => { controller.abort() })
    const settings = { batches: 50, batchSize: 8, seed: 5 }
    const scoring = scoreExpert(checkpoint, heldOut, settings, { signal: controller.signal })
    await expect(scoring).rejects.toHaveProperty('name', 'AbortError')
    expect(tf.memory().numTensors).toBe(tensors)
  })
})
