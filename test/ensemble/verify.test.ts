import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { DiT } from '../../src/model/dit.js'
import { EXPERT_PRESETS } from '../../src/model/config.js'
import { decodeCheckpoint, encodeCheckpoint, paramsToTensors, type Checkpoint } from '../../src/checkpoint/format.js'
import type { NamedTensor } from '../../src/checkpoint/safetensors.js'
import {
  ensembleFromVerification, verifyCheckpoints, type CheckpointCandidate, type CheckpointVerdict
} from '../../src/ensemble/verify.js'
import { assembleEnsemble } from '../../src/node/assemble.js'
import { useTrainingBackend } from '../utils/backend.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { createEnsembleRun, trainedExpert, trainedRouter, type EnsembleRun } from './fixtures.js'
import { DiskFullError } from '../../src/errors.js'
import type { TaskCoverage } from '../../src/network/claim-types.js'
import type { Storage } from '../../src/storage/helia.js'

let node: TestNode
let run: EnsembleRun
const cids: Record<string, string> = {}

/** A variant of a checkpoint: metadata and tensors edited by `edit`. */
function variant (bytes: Uint8Array, edit: (c: Checkpoint) => void): Uint8Array {
  const checkpoint = decodeCheckpoint(bytes)
  checkpoint.metadata = structuredClone(checkpoint.metadata)
  const copy = (t: NamedTensor): NamedTensor => ({ shape: [...t.shape], data: Float32Array.from(t.data) })
  checkpoint.tensors = new Map([...checkpoint.tensors].map(([k, t]) => [k, copy(t)]))
  edit(checkpoint)
  return encodeCheckpoint(checkpoint)
}

/** An expert of another shape (or random weights) that is otherwise a perfect member of the run. */
function untrainedExpert (like: Uint8Array, config: Record<string, unknown>, scale: number): Uint8Array {
  const base = decodeCheckpoint(like)
  const model = new DiT({ ...base.metadata.config, ...config } as never, 7)
  for (const v of model.params.variables.values()) v.assign(tf.randomNormal(v.shape, 0, scale, 'float32', 11))
  const tensors = paramsToTensors(model.params)
  model.dispose()
  return encodeCheckpoint({ metadata: { ...base.metadata, config: { ...base.metadata.config, ...config } }, tensors })
}

beforeAll(async () => {
  await useTrainingBackend()
  node = await createTestNode()
  run = await createEnsembleRun(node.storage, 'verify-test')
  const add = async (name: string, bytes: Uint8Array): Promise<void> => {
    cids[name] = (await node.storage.addBytes(bytes)).toString()
  }
  const ddpm = await trainedExpert(run, node.storage, 'expert-0', 40)
  await add('ddpm', ddpm)
  await add('ddpmShort', await trainedExpert(run, node.storage, 'expert-0', 20, 5))
  const fm = await trainedExpert(run, node.storage, 'expert-1', 30)
  await add('fm', fm)
  const router = await trainedRouter(run, node.storage)
  await add('router', router)
  // The run's router reads the prompt: a prompt-blind one, or one sized to another vocabulary, is another shape.
  await add('blindRouter', await trainedRouter(run, node.storage, 20, 'none'))
  await add('otherTokenizer', variant(router, (c) => {
    const tokenizer = c.metadata.extra!.tokenizer as { vocab: string[] }
    tokenizer.vocab.push('extra')
  }))
  await add('nan', variant(fm, (c) => { c.tensors.get('blocks.0.mlp.fc1.weight')!.data[5] = Number.NaN }))
  const { hidden, depth } = EXPERT_PRESETS.small
  await add('otherPreset', untrainedExpert(ddpm, { hidden, depth }, 0.02))
  await add('cutTensor', variant(ddpm, (c) => {
    const t = c.tensors.get('blocks.1.attn.proj.weight')!
    const [rows, columns] = t.shape
    c.tensors.set('blocks.1.attn.proj.weight', { shape: [rows - 1, columns], data: t.data.subarray(columns) })
  }))
  const otherRunId = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
  await add('otherRun', variant(ddpm, (c) => { c.metadata.run = otherRunId }))
  await add('random', untrainedExpert(fm, {}, 0.5))
  await add('garbage', Uint8Array.from({ length: 4096 }, (_, i) => (i * 131) & 0xff))
  // A CID nobody holds: its bytes were never stored anywhere.
  cids.absent = CID.create(1, raw.code, await sha256.digest(new TextEncoder().encode('never stored'))).toString()
}, 120_000)

afterAll(async () => { await node?.stop() })

describe('verification before assembly', () => {
  it('refuses each bad checkpoint with its reason and takes the better replica by recomputed held-out loss',
    { timeout: 60_000 }, async () => {
    // The worse replica claims the better loss: announced numbers are never trusted.
    const candidates: CheckpointCandidate[] = [
      { task: 'expert-0', cid: cids.ddpmShort, announcedLoss: 0.01 },
      { task: 'expert-0', cid: cids.ddpm, announcedLoss: 0.8 },
      { task: 'expert-1', cid: cids.fm },
      { task: 'router', cid: cids.router },
      { task: 'expert-1', cid: cids.nan },
      { task: 'expert-0', cid: cids.otherPreset },
      { task: 'expert-0', cid: cids.cutTensor },
      { task: 'expert-0', cid: cids.otherRun },
      { task: 'expert-1', cid: cids.random },
      { task: 'expert-1', cid: cids.ddpm },
      { task: 'expert-1', cid: cids.garbage },
      { task: 'expert-1', cid: cids.absent },
      { task: 'router', cid: cids.blindRouter },
      { task: 'router', cid: cids.otherTokenizer }
    ]
    const tensors = tf.memory().numTensors
    const init = { runId: run.runId, manifest: run.manifest, storage: node.storage }
    const result = await verifyCheckpoints({ ...init, timeoutMs: 1500 }, candidates, { seed: 5 })
    expect(tf.memory().numTensors).toBe(tensors)
    const verdict = (cid: string, task?: string): CheckpointVerdict =>
      result.verdicts.find((v) => v.cid === cid && (task === undefined || v.task === task))!
    const refused = [
      'nan', 'otherPreset', 'cutTensor', 'otherRun', 'random', 'garbage', 'absent', 'blindRouter', 'otherTokenizer'
    ]
    expect(Object.fromEntries(refused.map((k) => [k, verdict(cids[k]).reason]))).toEqual({
      blindRouter: 'wrong-shape',
      otherTokenizer: 'wrong-shape',
      nan: 'non-finite',
      otherPreset: 'wrong-shape',
      cutTensor: 'wrong-shape',
      otherRun: 'wrong-run',
      random: 'held-out-loss',
      garbage: 'corrupt',
      absent: 'fetch-timeout'
    })
    // A good DDPM checkpoint offered for the FM task is refused for that task only.
    expect(verdict(cids.ddpm, 'expert-1')).toMatchObject({ accepted: false, reason: 'wrong-task' })
    expect(verdict(cids.random, 'expert-1').heldOutLoss).toBeUndefined()

    const short = verdict(cids.ddpmShort)
    const long = verdict(cids.ddpm, 'expert-0')
    expect(short).toMatchObject({ accepted: true, chosen: false })
    expect(long).toMatchObject({ accepted: true, chosen: true })
    expect(long.heldOutLoss!).toBeLessThan(short.heldOutLoss!)
    expect(long.heldOutLoss!).toBeLessThanOrEqual(run.manifest.eval.heldOutLossMax.ddpm)
    expect(verdict(cids.fm)).toMatchObject({ accepted: true, chosen: true })
    expect(verdict(cids.router)).toMatchObject({ accepted: true, chosen: true })
    expect(result.missing).toEqual([])
    const chosen = Object.fromEntries([...result.chosen].map(([task, v]) => [task, v.cid.toString()]))
    expect(chosen).toEqual({ 'expert-0': cids.ddpm, 'expert-1': cids.fm, router: cids.router })

    // Anyone recomputes the same numbers from the same seed; a verifier that draws its own gets its own.
    const again = await verifyCheckpoints(init, [{ cid: cids.ddpm }], { seed: 5 })
    expect(again.verdicts[0]).toMatchObject({ task: 'expert-0', accepted: true, heldOutLoss: long.heldOutLoss })
    const fresh = await verifyCheckpoints(init, [{ cid: cids.ddpm }])
    expect(fresh.verdicts[0].heldOutLoss).not.toBe(long.heldOutLoss)

    const { manifest } = await ensembleFromVerification(run.runId, run.manifest, result, 'top1')
    const experts = manifest.experts.map((e) => [e.cluster, e.objective, e.cid.toString()])
    expect(experts).toEqual([[0, 'ddpm', cids.ddpm], [1, 'fm', cids.fm]])
  })

  it('refuses what only fits the held-out draws: an expert trained on the held-out shard, ' +
    'and one that cannot beat a per-pixel Gaussian', { timeout: 120_000 }, async () => {
    // Trained on the very images it is judged by (cluster 1's held-out shard), many epochs over.
    const task = run.manifest.tasks.find((t) => t.id === 'expert-1')!
    const heldOutShard = await node.storage.getBytes(run.manifest.resolved.shards[1].heldOut)
    const { resolved } = run.manifest
    const heldOutAsTrain = resolved.shards.map((s, i) => i === 1 ? { ...s, train: s.heldOut } : s)
    const cheatRun = { ...run, manifest: { ...run.manifest, resolved: { ...resolved, shards: heldOutAsTrain } } }
    const cheat = await trainedExpert(cheatRun, node.storage, 'expert-1', 200)
    cids.cheat = (await node.storage.addBytes(cheat)).toString()
    expect(heldOutShard.length).toBeGreaterThan(0)
    // The run's overfit bound (the fixture turns it off: one batch of 16 is too noisy for it).
    const overfit = { ...run.manifest, eval: { ...run.manifest.eval, overfitRatio: 0.9 } }
    const loose = await verifyCheckpoints({ runId: run.runId, manifest: overfit, storage: node.storage }, [
      { task: 'expert-1', cid: cids.cheat, announcedLoss: 0 },
      { task: 'expert-1', cid: cids.fm }
    ], { seed: 77 })
    const byCid = (cid: string): (typeof loose.verdicts)[number] => loose.verdicts.find((v) => v.cid === cid)!
    expect(byCid(cids.cheat)).toMatchObject({ accepted: false, reason: 'held-out-overfit' })
    expect(loose.chosen.get(task.id)?.cid.toString()).toBe(cids.fm)

    // With the default run's rule (below 0.9 x the Gaussian predictor's loss), a DDPM expert of
    // 20 steps that passes the absolute bound is refused.
    const strict = { ...run.manifest, eval: { ...run.manifest.eval, baselineFraction: 0.9, heldOutBatches: 4 } }
    const strictRun = { runId: run.runId, manifest: strict, storage: node.storage }
    const judged = await verifyCheckpoints(strictRun, [{ task: 'expert-0', cid: cids.ddpmShort }], { seed: 77 })
    expect(judged.verdicts[0]).toMatchObject({ accepted: false, reason: 'held-out-loss' })
    expect(judged.verdicts[0].message).toMatch(/Gaussian/)
  })

  it('stops on its own full disk instead of calling a good checkpoint corrupt', async () => {
    // The real store, failing one fetch the way Storage reports ENOSPC (test/storage/disk-full.test.ts).
    const full: Pick<Storage, 'getBytes'> = {
      getBytes: async (cid, options) => {
        if (cid.toString() === cids.fm) {
          throw new DiskFullError(`no space left in ${node.dataDir} to store the blocks of ${cids.fm}`)
        }
        return await node.storage.getBytes(cid, options)
      }
    }
    const onFullDisk = { runId: run.runId, manifest: run.manifest, storage: full }
    const verifying = verifyCheckpoints(onFullDisk, [{ task: 'expert-1', cid: cids.fm }])
    await expect(verifying).rejects.toBeInstanceOf(DiskFullError)
  })

  it('assembles from coverage rows with replicas, and fails with a typed error when a task has nothing acceptable',
    { timeout: 60_000 }, async () => {
    type CoverageCheckpoint = NonNullable<TaskCoverage['checkpoint']>
    const info = (cid: string, peer: string, heldOutLoss: number): CoverageCheckpoint =>
      ({ peer, cid, step: 1, final: true, heldOutLoss, ts: 1 })
    const rows: TaskCoverage[] = [
      {
        task: 'expert-0', replicas: 2, holders: [], free: true, checkpoint: info(cids.ddpmShort, 'peer-a', 0.01),
        finals: [info(cids.ddpmShort, 'peer-a', 0.01), info(cids.ddpm, 'peer-b', 0.9)]
      },
      { task: 'expert-1', replicas: 1, holders: [], free: true, checkpoint: info(cids.fm, 'peer-a', 1) },
      { task: 'router', replicas: 1, holders: [], free: true, checkpoint: info(cids.router, 'peer-a', 0.5) }
    ]
    const init = { runId: run.runId, manifest: run.manifest, storage: node.storage }
    const ensemble = await assembleEnsemble({ ...init, coverage: rows })
    try {
      expect(ensemble.checkpoints).toEqual({ 'expert-0': cids.ddpm, 'expert-1': cids.fm, router: cids.router })
      expect(ensemble.verification.verdicts).toHaveLength(4)
    } finally {
      ensemble.dispose()
    }
    rows[1] = { ...rows[1], checkpoint: info(cids.random, 'peer-a', 0.1) }
    const noAcceptable = { name: 'NoAcceptableCheckpointError', tasks: ['expert-1'] }
    await expect(assembleEnsemble({ ...init, coverage: rows })).rejects.toMatchObject(noAcceptable)
  })
})
