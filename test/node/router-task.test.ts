/**
 * The router task in its worker thread (src/node/router-task.ts): its progress every
 * `checkpointEvery` steps is a checkpoint other nodes can check as lease evidence, kept apart
 * from the final file, which is what marks the task done in its directory.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkAnnouncedCheckpoint } from '../../src/node/announced-checkpoint.js'
import { ROUTER_FILE, ROUTER_PROGRESS_FILE, trainRouterTask } from '../../src/node/router-task.js'
import { createWorkerTaskTrainer } from '../../src/node/worker-trainer.js'
import { decodeCheckpoint } from '../../src/checkpoint/format.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { createEnsembleRun, type EnsembleRun } from '../ensemble/fixtures.js'
import type { TaskCheckpointDetail, TaskTrainRequest } from '../../src/node/task-trainer.js'

let node: TestNode
let run: EnsembleRun
let dir: string
beforeAll(async () => {
  node = await createTestNode()
  run = await createEnsembleRun(node.storage, 'router-task-test', { routerSteps: 7, checkpointEvery: 3 })
  dir = await mkdtemp(join(tmpdir(), 'hddm-router-task-'))
}, 60_000)
afterAll(async () => {
  await node.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('the router task', () => {
  it('announces its progress every checkpointEvery steps apart from its final file', { timeout: 120_000 }, async () => {
    const task = run.manifest.tasks.find((t) => t.kind === 'router')!
    const shards = await Promise.all(run.manifest.resolved.shards.map(async (s) => ({
      cluster: s.cluster, train: await node.storage.getBytes(s.train), heldOut: await node.storage.getBytes(s.heldOut)
    })))
    const request: TaskTrainRequest = { runId: run.runId, manifest: run.manifest, task, shards, dir }
    const checkpoints: TaskCheckpointDetail[] = []
    const result = await trainRouterTask(request, { backend: 'auto', threads: 1 }, {
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
    expect(checkAnnouncedCheckpoint(run, task, { cid: 'progress', step: 6, final: false }, bytes).metadata.network).toBe('router')
    expect(decodeCheckpoint(await readFile(result.path!)).metadata.step).toBe(7)
    // Only the final file says the task is done here.
    expect(await createWorkerTaskTrainer().latest(dir)).toEqual({ path: join(dir, ROUTER_FILE), step: 7 })
  })
})
