/**
 * The router task on the node's training thread (src/node/router-task.ts): its progress every
 * `checkpointEvery` steps is a checkpoint other nodes can check as lease evidence, kept apart
 * from the final file, which is what marks the task done in its directory; a stop leaves no
 * final file.
 */
import { access, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkAnnouncedCheckpoint } from '../../src/node/announced-checkpoint.js'
import { ROUTER_FILE, ROUTER_PROGRESS_FILE, trainRouterTask } from '../../src/node/router-task.js'
import { createWorkerTaskTrainer } from '../../src/node/worker-trainer.js'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import { createTrainer, type Trainer } from '../../src/training/trainer.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { createEnsembleRun, type EnsembleRun } from '../ensemble/fixtures.js'
import type { TaskCheckpointDetail, TaskTrainRequest } from '../../src/node/task-trainer.js'

let node: TestNode
let run: EnsembleRun
let dir: string
let trainer: Trainer
beforeAll(async () => {
  node = await createTestNode()
  run = await createEnsembleRun(node.storage, 'router-task-test', { routerSteps: 7, checkpointEvery: 3 })
  dir = await mkdtemp(join(tmpdir(), 'hddm-router-task-'))
  trainer = createTrainer({ backend: 'auto', threads: 1 })
  await trainer.start()
}, 60_000)
afterAll(async () => {
  await trainer?.stop()
  await node.stop()
  await rm(dir, { recursive: true, force: true })
})

/** The run's router task into `into`; `steps` overrides its budget. */
async function request (into: string, steps?: number): Promise<TaskTrainRequest> {
  const task = run.manifest.tasks.find((t) => t.kind === 'router')!
  const { training } = run.manifest
  const manifest = steps === undefined
    ? run.manifest
    : { ...run.manifest, training: { ...training, router: { ...training.router, steps } } }
  const shards = await Promise.all(run.manifest.resolved.shards.map(async (s) => ({
    cluster: s.cluster, train: await node.storage.getBytes(s.train), heldOut: await node.storage.getBytes(s.heldOut)
  })))
  return { runId: run.runId, manifest, task, shards, dir: into }
}

describe('the router task', () => {
  it('announces its progress every checkpointEvery steps apart from its final file', { timeout: 120_000 }, async () => {
    const task = run.manifest.tasks.find((t) => t.kind === 'router')!
    const checkpoints: TaskCheckpointDetail[] = []
    const result = await trainRouterTask(await request(dir), trainer, {
      onProgress: (e) => { if (e.type === 'hddm:train:checkpoint') checkpoints.push(e.detail) }
    })
    expect(result).toMatchObject({ step: 7, completed: true, path: join(dir, ROUTER_FILE) })
    expect(checkpoints).toEqual([
      { step: 3, path: join(dir, ROUTER_PROGRESS_FILE), final: false },
      { step: 6, path: join(dir, ROUTER_PROGRESS_FILE), final: false }
    ])
    // The last progress file is a router of the run at step 6 that passes the content check
    // every node makes of an announced checkpoint.
    const bytes = await readFile(join(dir, ROUTER_PROGRESS_FILE))
    const checked = checkAnnouncedCheckpoint(run, task, { cid: 'progress', step: 6, final: false }, bytes)
    expect(checked.metadata.network).toBe('router')
    expect(decodeCheckpoint(await readFile(result.path!)).metadata.step).toBe(7)
    // Only the final file says the task is done here.
    expect(await createWorkerTaskTrainer().latest(dir)).toEqual({ path: join(dir, ROUTER_FILE), step: 7 })
  })

  it('a stop ends the task as not completed, without the final file that would mark it done', async () => {
    const stopped = await mkdtemp(join(tmpdir(), 'hddm-router-task-stop-'))
    try {
      const controller = new AbortController()
      const result = await trainRouterTask(await request(stopped, 10_000), trainer, {
        signal: controller.signal,
        onProgress: (e) => { if (e.type === 'hddm:train:step' && e.detail.step === 2) controller.abort() }
      })
      expect(result).toMatchObject({ completed: false })
      expect(result.step).toBeGreaterThanOrEqual(2)
      expect(result.step).toBeLessThan(10_000)
      await expect(access(join(stopped, ROUTER_FILE))).rejects.toHaveProperty('code', 'ENOENT')
      // The thread is free for the next job.
      expect((await trainRouterTask(await request(stopped), trainer)).completed).toBe(true)
    } finally {
      await rm(stopped, { recursive: true, force: true })
    }
  })
})
