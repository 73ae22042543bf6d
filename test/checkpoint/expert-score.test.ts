/**
 * The trivial predictor that verification compares experts with (src/checkpoint/expert-score.ts)
 * knows what the expert was trained on. Fitted to the few held-out images it is judged on, it
 * "knew" them, and an honest expert of a small run was refused (the chaos test's ones cluster).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeShard } from '../../src/data/shard.js'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import { pixelMoments, scoreExpert } from '../../src/checkpoint/expert-score.js'
import { useTrainingBackend } from '../utils/backend.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { createEnsembleRun, trainedExpert } from '../ensemble/fixtures.js'

let node: TestNode
beforeAll(async () => {
  await useTrainingBackend()
  node = await createTestNode()
}, 60_000)
afterAll(async () => { await node.stop() })

describe('scoreExpert', () => {
  it('gives the per-pixel Gaussian the train shard\'s moments when told, not the scored shard\'s',
    { timeout: 60_000 }, async () => {
    const run = await createEnsembleRun(node.storage, 'expert-score-test')
    const checkpoint = decodeCheckpoint(await trainedExpert(run, node.storage, 'expert-1', 5))
    const shards = run.manifest.resolved.shards[1]
    const heldOut = await node.storage.getBytes(shards.heldOut)
    const train = decodeShard(await node.storage.getBytes(shards.train))
    expect(decodeShard(heldOut).header.count).toBeLessThan(20)
    const settings = { batches: 2, batchSize: 8, seed: 5 }
    const own = scoreExpert(checkpoint, heldOut, settings)
    const fair = scoreExpert(checkpoint, heldOut, { ...settings, moments: pixelMoments(train) })
    // The expert's own losses do not depend on the predictor; only the baseline moves, up: the
    // held-out images' own moments fit them better than any honest reference (draws are seeded).
    expect(fair.prompted).toBe(own.prompted)
    expect(fair.baseline).toBeGreaterThan(own.baseline)
  })
})
