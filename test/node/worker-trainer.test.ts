/**
 * The node's TaskTrainer over the training thread (src/node/worker-trainer.ts): an expert task
 * trains there from the manifest's budget, its checkpoints are found again by their header's
 * step, and what it announces is the resumable file with its recorded held-out loss while
 * training and the publishable export at the end. A checkpoint without a recorded loss is
 * scored in a thread of its own, to the same number.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expertHeldOutLoss } from '../../src/checkpoint/expert-score.js'
import { decodeCheckpoint, encodeCheckpoint } from '../../src/checkpoint/format.js'
import { createWorkerTaskTrainer, type WorkerTaskTrainer } from '../../src/node/worker-trainer.js'
import type { TaskTrainRequest, TaskTrainResult } from '../../src/node/task-trainer.js'
import { createEnsembleRun, type EnsembleRun } from '../ensemble/fixtures.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'

let node: TestNode
let run: EnsembleRun
let dir: string
let trainer: WorkerTaskTrainer
let request: TaskTrainRequest
let trained: TaskTrainResult
beforeAll(async () => {
  node = await createTestNode()
  run = await createEnsembleRun(node.storage, 'worker-trainer-test', { steps: 8, checkpointEvery: 4 })
  dir = await mkdtemp(join(tmpdir(), 'hddm-worker-trainer-'))
  trainer = createWorkerTaskTrainer({ backend: 'auto', threads: 1 })
  const task = run.manifest.tasks.find((t) => t.id === 'expert-1')!
  if (task.kind !== 'expert') throw new Error('expert-1 is an expert task')
  const shard = run.manifest.resolved.shards[task.cluster]
  const shards = [{
    cluster: task.cluster,
    train: await node.storage.getBytes(shard.train),
    heldOut: await node.storage.getBytes(shard.heldOut)
  }]
  request = { runId: run.runId, manifest: run.manifest, task, shards, dir }
  trained = await trainer.train(request)
}, 180_000)
afterAll(async () => {
  await trainer?.stop()
  await node?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('the worker task trainer', () => {
  it('trains an expert task to its budget and finds its checkpoint again by the header\'s step', async () => {
    expect(trained).toMatchObject({ step: 8, completed: true })
    expect(await trainer.latest(dir)).toEqual({ path: trained.path, step: 8 })
    const torn = await mkdtemp(join(tmpdir(), 'hddm-worker-trainer-torn-'))
    try {
      await writeFile(join(torn, 'checkpoint.safetensors'), (await readFile(trained.path!)).subarray(0, 20))
      expect(await trainer.latest(torn)).toBeUndefined()
    } finally {
      await rm(torn, { recursive: true, force: true })
    }
  })

  it('announces the resumable file while training and the publishable export at the end', async () => {
    const bytes = await readFile(trained.path!)
    const recorded = decodeCheckpoint(bytes).metadata.extra?.heldOutLoss
    expect(typeof recorded).toBe('number')
    const progress = await trainer.export(request, trained.path!, false)
    // Buffer.equals, not toEqual: a deep comparison of a checkpoint's bytes one by one takes seconds.
    expect(Buffer.from(progress.bytes).equals(bytes)).toBe(true)
    expect({ step: progress.step, heldOutLoss: progress.heldOutLoss }).toEqual({ step: 8, heldOutLoss: recorded })
    const final = await trainer.export(request, trained.path!, true)
    const published = decodeCheckpoint(final.bytes)
    const trainerState = (name: string): boolean => name.startsWith('raw.') || name.startsWith('adam.')
    expect([...published.tensors.keys()].filter(trainerState)).toEqual([])
    expect(published.metadata.extra?.trainer).toBeUndefined()
    expect(final.heldOutLoss).toBe(recorded)
  })

  it('scores a checkpoint without a recorded held-out loss in a thread, to the in-process number', async () => {
    const checkpoint = decodeCheckpoint(await readFile(trained.path!))
    const { heldOutLoss: _recorded, ...extra } = checkpoint.metadata.extra ?? {}
    const unscored = join(dir, 'unscored.safetensors')
    await writeFile(unscored, encodeCheckpoint({ ...checkpoint, metadata: { ...checkpoint.metadata, extra } }))
    const exported = await trainer.export(request, unscored, false)
    const expected = expertHeldOutLoss(checkpoint, request.shards[0].heldOut, run.manifest.eval)
    expect(exported.heldOutLoss).toBeCloseTo(expected, 4)
  })
})
