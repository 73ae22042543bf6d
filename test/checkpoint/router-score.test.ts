/**
 * Verifiers score a router checkpoint on a node's main thread (src/checkpoint/router-score.ts):
 * the default run's 3 000 held-out images held the event loop for 9-28 s in one go. scoreRouter
 * must give evaluateRouter's numbers while letting the loop run between passes, and stop there
 * when told.
 */
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeCheckpoint, type Checkpoint } from '../../src/checkpoint/format.js'
import { loadRouter } from '../../src/checkpoint/router.js'
import { evaluateRouter, ROUTER_ROWS_PER_PASS, scoreRouter } from '../../src/checkpoint/router-score.js'
import { decodeShard, type Shard } from '../../src/data/shard.js'
import { useTrainingBackend } from '../utils/backend.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { createEnsembleRun, trainedRouter } from '../ensemble/fixtures.js'

let node: TestNode
let checkpoint: Checkpoint
let heldOut: Shard[]
beforeAll(async () => {
  await useTrainingBackend()
  node = await createTestNode()
  const run = await createEnsembleRun(node.storage, 'router-score-test')
  checkpoint = decodeCheckpoint(await trainedRouter(run, node.storage, 10))
  const shards = run.manifest.resolved.shards
  heldOut = await Promise.all(shards.map(async (s) => decodeShard(await node.storage.getBytes(s.heldOut))))
}, 60_000)
afterAll(async () => { await node.stop() })

describe('scoreRouter', () => {
  it('gives evaluateRouter\'s numbers, handing the loop back after every pass', async () => {
    const images = heldOut.reduce((n, s) => n + s.header.count, 0)
    const options = { seed: 3, batchSize: 4 }
    let turns = 0
    let ticking = true
    const tick = (): void => { turns++; if (ticking) setImmediate(tick) }
    setImmediate(tick)
    const scored = await scoreRouter(checkpoint, heldOut, options).finally(() => { ticking = false })
    const router = loadRouter(checkpoint)
    try {
      expect(scored).toEqual(evaluateRouter(router.model, heldOut, options))
    } finally {
      router.dispose()
    }
    // 5 flow-time buckets, prompted and with the null prompt.
    const passes = 5 * 2 * Math.ceil(images / 4)
    expect(turns).toBeGreaterThanOrEqual(passes - 1)
    expect(ROUTER_ROWS_PER_PASS).toBeLessThanOrEqual(64)
  })

  it('stops between passes when aborted, and frees what it held', async () => {
    const tensors = tf.memory().numTensors
    const controller = new AbortController()
    setImmediate(() => { controller.abort() })
    const scoring = scoreRouter(checkpoint, heldOut, { seed: 3, batchSize: 2 }, { signal: controller.signal })
    await expect(scoring).rejects.toHaveProperty('name', 'AbortError')
    expect(tf.memory().numTensors).toBe(tensors)
  })
})
