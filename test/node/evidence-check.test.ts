import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  checkEvidence, evidenceSeed, judgeEvidence, nextEvidenceStep, type EvidenceScore
} from '../../src/node/evidence-check.js'
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../../src/checkpoint/format.js'
import { useTrainingBackend } from '../utils/backend.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { createEnsembleRun, trainedExpert, trainedRouter, type EnsembleRun } from '../ensemble/fixtures.js'
import { parseRunManifest, type RunTask } from '../../src/protocol/run-manifest.js'

let node: TestNode
let run: EnsembleRun
const bytes: Record<string, Uint8Array> = {}

function relabel (source: Uint8Array, edit: (c: Checkpoint) => void): Uint8Array {
  const checkpoint = decodeCheckpoint(source)
  checkpoint.metadata = structuredClone(checkpoint.metadata)
  edit(checkpoint)
  return encodeCheckpoint(checkpoint)
}

const taskOf = (id: string): RunTask => run.manifest.tasks.find((t) => t.id === id)!
const heldOut = async (cluster: number): Promise<Uint8Array> => {
  return await node.storage.getBytes(run.manifest.resolved.shards[cluster].heldOut)
}
interface Previous { ts: number, step: number, score: number }

async function score (task: string, step: number, file: Uint8Array, previous?: Previous): Promise<EvidenceScore> {
  const history = { first: previous, latest: previous }
  return await checkEvidence(run, taskOf(task), { cid: 'bafk', step, final: false }, file, history, heldOut)
}

async function reasonOf (task: string, step: number, file: Uint8Array, previous?: Previous): Promise<string> {
  try {
    const s = await score(task, step, file, previous)
    return `accepted ${s.score.toFixed(3)} (trivial ${s.trivial.toFixed(3)}, bound ${s.bound})`
  } catch (err) {
    return (err as { reason?: string }).reason ?? String(err)
  }
}

beforeAll(async () => {
  await useTrainingBackend()
  node = await createTestNode()
  // The ensemble tests' K=2 run, with a budget of 60 steps and a checkpoint every 10.
  run = await createEnsembleRun(node.storage, 'evidence-check-test', { steps: 60, checkpointEvery: 10 })
  bytes.fm30 = await trainedExpert(run, node.storage, 'expert-1', 30)
  bytes.fm1 = await trainedExpert(run, node.storage, 'expert-1', 1)
  bytes.ddpm1 = await trainedExpert(run, node.storage, 'expert-0', 1)
  bytes.router = await trainedRouter(run, node.storage, 40)
}, 240_000)
afterAll(async () => { await node.stop() })

describe('lease evidence: what an announced checkpoint must show', () => {
  it('accepts a trained expert as a first evidence, and scores it alike every time', async () => {
    expect(await reasonOf('expert-1', 30, bytes.fm30)).toMatch(/^accepted/)
    expect(await score('expert-1', 30, bytes.fm30)).toEqual(await score('expert-1', 30, bytes.fm30))
  })

  it('refuses an untrained expert: its held-out loss is above the run\'s bound', async () => {
    expect(await reasonOf('expert-1', 1, bytes.fm1)).toBe('above-bound')
    expect(await reasonOf('expert-0', 1, bytes.ddpm1)).toBe('above-bound')
  })

  it('refuses the same weights relabelled as a later step: the loss did not fall', async () => {
    const first = await score('expert-1', 30, bytes.fm30)
    // The test run's experts are far above the trivial predictor after 30 steps, so they must keep falling.
    expect(first.score).toBeGreaterThan(first.trivial)
    const relabelled = relabel(bytes.fm30, (c) => { c.metadata.step = 40 })
    expect(await reasonOf('expert-1', 40, relabelled, { ts: 1, step: 30, score: first.score })).toBe('not-learning')
  })

  it('refuses a step the checkpoint schedule cannot give, and a step the file does not hold', async () => {
    // checkpointEvery is 10: after evidence at step 30 the next checkpoint is step 40, and the last is 60.
    expect(nextEvidenceStep(run.manifest, taskOf('expert-1'), 30)).toBe(40)
    expect(nextEvidenceStep(run.manifest, taskOf('expert-1'))).toBe(1)
    expect(nextEvidenceStep(run.manifest, taskOf('expert-1'), 37)).toBe(40)
    expect(nextEvidenceStep(run.manifest, taskOf('expert-1'), 55)).toBe(60)
    expect(await reasonOf('expert-1', 39, bytes.fm30, { ts: 1, step: 30, score: 9 })).toBe('step')
    expect(await reasonOf('expert-1', 36, bytes.fm30)).toBe('wrong-content')
    expect(await reasonOf('expert-1', 30, new TextEncoder().encode('not a checkpoint'))).toBe('wrong-content')
    expect(await reasonOf('expert-0', 30, bytes.fm30)).toBe('wrong-content')
  })

  it('judges a router by its held-out error against always answering the largest cluster', async () => {
    expect(await reasonOf('router', 40, bytes.router)).toMatch(/^accepted/)
  })

  it('learning means: below the trivial predictor, or below the holder\'s first evidence', () => {
    expect(judgeEvidence({ score: 0.5, trivial: 0.4, bound: 1 })).toBeUndefined()
    expect(judgeEvidence({ score: 0.5, trivial: 0.4, bound: 1 }, { score: 0.6 })).toBeUndefined()
    expect(judgeEvidence({ score: 0.5, trivial: 0.4, bound: 1 }, { score: 0.5 })).toBe('not-learning')
    expect(judgeEvidence({ score: 0.3, trivial: 0.4, bound: 1 }, { score: 0.2 })).toBeUndefined()
    expect(judgeEvidence({ score: 1.1, trivial: 2, bound: 1 })).toBe('above-bound')
    expect(judgeEvidence({ score: Number.NaN, trivial: 2, bound: 1 })).toBe('non-finite')
    expect(evidenceSeed(run.runId, 'expert-1')).toBe(evidenceSeed(run.runId, 'expert-1'))
    expect(evidenceSeed(run.runId, 'expert-1')).not.toBe(evidenceSeed(run.runId, 'expert-0'))
  })
})
