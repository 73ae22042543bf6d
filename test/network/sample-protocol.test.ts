import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import * as dagJson from '@ipld/dag-json'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { useTrainingBackend } from '../utils/backend.js'
import { encodeCheckpoint } from '../../src/checkpoint/format.js'
import { randomExpertCheckpoint, randomRouterCheckpoint } from '../checkpoint/fixtures.js'
import { Tokenizer } from '../../src/data/tokenizer.js'
import { decodePng } from '../../src/data/png.js'
import { ensembleIdOf, parseEnsembleManifest } from '../../src/protocol/ensemble-manifest.js'
import { decodeSampleFrame } from '../../src/protocol/sample-messages.js'
import { SAMPLE_PROTOCOL } from '../../src/protocol/topics.js'
import {
  createSampleService, type SampleHandler, type SampleService
} from '../../src/network/sample-service.js'
import { requestSamples } from '../../src/network/sample-client.js'
import { ensembleSampleHandler, type EnsembleSampleHandler } from '../../src/ensemble/serve.js'
import { resolveEnsemble } from '../../src/ensemble/resolve.js'
import { sampleEnsemble } from '../../src/ensemble/sample.js'
import { parseRouting } from '../../src/diffusion/routing.js'
import type { CID } from 'multiformats/cid'

const digits = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']
const tokenizer = Tokenizer.fromPrompts(digits, { maxLength: 4 })

let server: TestNode
let client: TestNode
let service: SampleService
let handler: EnsembleSampleHandler
let ensembleId: CID
let poisonedId: CID
const outcomes: string[] = []

/** A tiny expert checkpoint with a non-zero output layer, added to the server's blockstore. */
async function addExpert (
  node: TestNode, run: string, objective: 'ddpm' | 'fm', cluster: number, poison = false
): Promise<CID> {
  const checkpoint = randomExpertCheckpoint({ tokenizer, objective, cluster, run, poison })
  return await node.storage.addBytes(encodeCheckpoint(checkpoint))
}

async function addEnsemble (node: TestNode, poison: boolean, label = 'sample-protocol'): Promise<CID> {
  const run = await node.storage.putJson({ test: label })
  const router = randomRouterCheckpoint({ numExperts: 2, run: run.toString() })
  const routerCid = await node.storage.addBytes(encodeCheckpoint(router))
  const manifest = parseEnsembleManifest({
    v: 1, run, k: 2, router: routerCid,
    experts: [
      { cid: await addExpert(node, run.toString(), 'ddpm', 0, poison), cluster: 0, objective: 'ddpm' },
      { cid: await addExpert(node, run.toString(), 'fm', 1), cluster: 1, objective: 'fm' }
    ]
  })
  const id = await node.storage.putJson(manifest)
  expect(id.equals(await ensembleIdOf(manifest))).toBe(true)
  return id
}

/** Sends raw bytes (or nothing) as the request and returns the first frame the server answers with. */
async function rawExchange (payload: Uint8Array | undefined): Promise<ReturnType<typeof decodeSampleFrame>> {
  const stream = await client.swarm.libp2p.dialProtocol(multiaddr(server.addr), SAMPLE_PROTOCOL)
  const lp = lpStream(stream, { maxDataLength: 1 << 20 })
  if (payload !== undefined) await lp.write(payload)
  const frame = decodeSampleFrame((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())
  await stream.close().catch(() => {})
  return frame
}

beforeAll(async () => {
  await useTrainingBackend()
  server = await createTestNode()
  client = await createTestNode()
  ensembleId = await addEnsemble(server, false)
  poisonedId = await addEnsemble(server, true)
  handler = ensembleSampleHandler({ storage: server.storage })
  // Records how each job ended, so a test can tell a cancelled job from one that ran out.
  const recording: SampleHandler = async (req, options) => {
    try {
      const images = await handler.handler(req, options)
      outcomes.push('finished')
      return images
    } catch (err) {
      outcomes.push((err as Error).name)
      throw err
    }
  }
  // A short request deadline keeps the "stream that never sends" case quick; 3 s, not less, because a
  // loaded machine can take longer than that to deliver an honest request frame. The rate limit is
  // more than the tests sharing this service and client send in all (the limit has its own test).
  service = createSampleService(
    { requestTimeoutMs: 3000, rateLimit: { requests: 100, windowMs: 60_000 } },
    { libp2p: server.swarm.libp2p, handler: recording }
  )
  await service.start()
  await client.swarm.libp2p.dial(multiaddr(server.addr))
}, 120_000)

afterAll(async () => {
  await service?.stop()
  handler?.dispose()
  await client?.stop()
  await server?.stop()
})

const request = {
  v: 1 as const, ensemble: '', prompts: ['seven', 'two'],
  count: 3, steps: 3, seed: 5, routing: 'top1', guidance: 2
}

describe('/hddm/sample/1.0.0', () => {
  it('remote samples equal local samples for the same request and seed', async () => {
    const progress: number[] = []
    const remote = await requestSamples(
      client.swarm.libp2p, multiaddr(server.addr), { ...request, ensemble: ensembleId.toString() },
      { onProgress: e => progress.push(e.detail.step) }
    )
    expect(remote.map(r => r.prompt)).toEqual(['seven', 'two', 'seven'])
    expect(progress).toEqual([1, 2, 3])

    const local = await resolveEnsemble(server.storage, ensembleId, { offline: true })
    const drawn = await sampleEnsemble({
      members: local.members, router: local.router, tokenizer: local.tokenizer,
      prompts: ['seven', 'two', 'seven'], steps: 3, seed: 5, routing: parseRouting('top1'), guidance: 2
    })
    local.dispose()
    const size = 28 * 28
    const toByte = (v: number): number => Math.min(255, Math.max(0, Math.round((v + 1) * 127.5)))
    remote.forEach((r, i) => {
      const png = decodePng(r.png)
      const expected = Uint8Array.from(drawn.images.subarray(i * size, (i + 1) * size), toByte)
      expect(png.pixels).toEqual(expected)
    })
  })

  it('answers hostile requests with typed errors and keeps serving', async () => {
    const base = { ...request, ensemble: ensembleId.toString() }
    const badRequest = { type: 'error', code: 'bad-request' }
    const tooMany = dagJson.encode({ ...base, count: 1_000_000 })
    expect(await rawExchange(tooMany)).toMatchObject(badRequest)
    const garbage = Uint8Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff)
    expect(await rawExchange(garbage)).toMatchObject(badRequest)
    expect(await rawExchange(new Uint8Array(8192).fill(7))).toMatchObject(badRequest)
    expect(await rawExchange(undefined)).toMatchObject(badRequest)   // a stream that never sends
    const unknown = (await client.storage.putJson({ not: 'held by the server' })).toString()
    const ask = async (req: typeof base): Promise<unknown> =>
      await requestSamples(client.swarm.libp2p, multiaddr(server.addr), req)
    await expect(ask({ ...base, ensemble: unknown }))
      .rejects.toMatchObject({ name: 'SampleRefusedError', code: 'unknown-ensemble' })
    await expect(ask({ ...base, ensemble: poisonedId.toString() }))
      .rejects.toMatchObject({ name: 'SampleRefusedError', code: 'invalid-ensemble' })
    const images = await requestSamples(client.swarm.libp2p, multiaddr(server.addr), { ...base, count: 1 })
    expect(images).toHaveLength(1)
  })

  it('stops drawing when the client goes away', async () => {
    const controller = new AbortController()
    const long = { ...request, ensemble: ensembleId.toString(), steps: 250 }
    const run = requestSamples(client.swarm.libp2p, multiaddr(server.addr), long, {
      signal: controller.signal,
      onProgress: e => { if (e.detail.step === 2) controller.abort() }
    })
    const before = outcomes.length
    await expect(run).rejects.toMatchObject({ name: 'AbortError' })
    await vi.waitFor(() => { expect(service.active).toBe(0) }, { timeout: 20_000 })
    expect(outcomes.slice(before)).toEqual(['AbortError'])
  })

  it('survives a progress frame that cannot be sent after the client left (no unhandled rejection)', async () => {
    const node = await createTestNode()
    const peer = await createTestNode()
    let reported = false
    // Reports progress only once the client has closed its end, then fails as a cancelled job does.
    const late: SampleHandler = async (_req, options) => {
      await new Promise((resolve) => options.signal.addEventListener('abort', resolve, { once: true }))
      options.onProgress(1, 2)
      reported = true
      throw new Error('cancelled')
    }
    const lateService = createSampleService({}, { libp2p: node.swarm.libp2p, handler: late })
    const unhandled: unknown[] = []
    const onUnhandled = (err: unknown): void => { unhandled.push(err) }
    process.on('unhandledRejection', onUnhandled)
    try {
      await lateService.start()
      const stream = await peer.swarm.libp2p.dialProtocol(multiaddr(node.addr), SAMPLE_PROTOCOL)
      const frame = dagJson.encode({ ...request, ensemble: ensembleId.toString() })
      await lpStream(stream, { maxDataLength: 1 << 20 }).write(frame)
      await new Promise((resolve) => setTimeout(resolve, 300))
      stream.abort(new Error('client gone'))
      await vi.waitFor(() => { expect(reported).toBe(true); expect(lateService.active).toBe(0) }, { timeout: 10_000 })
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
      await lateService.stop()
      await peer.stop()
      await node.stop()
    }
  })

  it('keeps at most maxEnsembles loaded, disposing the least recently used once nobody draws from it', async () => {
    const other = await addEnsemble(server, false, 'second ensemble')
    const small = ensembleSampleHandler({ storage: server.storage, maxEnsembles: 1 })
    const options = { signal: new AbortController().signal, onProgress: () => {} }
    const draw = async (id: CID): Promise<void> => {
      await small.handler({ ...request, ensemble: id.toString(), count: 1, steps: 1 }, options)
    }
    const base = tf.memory().numTensors
    await draw(ensembleId)
    const one = tf.memory().numTensors - base
    expect(one).toBeGreaterThan(0)
    await draw(other)
    await new Promise((resolve) => setTimeout(resolve, 50))
    // The first was disposed when the second came in: one ensemble's tensors, not two.
    expect(tf.memory().numTensors - base).toBe(one)
    await draw(ensembleId)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(tf.memory().numTensors - base).toBe(one)
    small.dispose()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(tf.memory().numTensors).toBe(base)
  })

  it('caps concurrency and rate per peer, then serves other peers', async () => {
    // A service of its own, so that only this test's requests count against the window: a burst
    // of 8 uses it up (every admitted request counts, also those then refused as busy).
    const capped = await createTestNode()
    const served = ensembleSampleHandler({ storage: capped.storage })
    const limited = createSampleService(
      { rateLimit: { requests: 8, windowMs: 60_000 } },
      { libp2p: capped.swarm.libp2p, handler: served.handler }
    )
    const other = await createTestNode()
    try {
      await limited.start()
      const base = { ...request, ensemble: (await addEnsemble(capped, false)).toString(), count: 2, steps: 6 }
      const ask = async (from: TestNode, req = base): Promise<unknown> =>
        await requestSamples(from.swarm.libp2p, multiaddr(capped.addr), req)
      const burst = await Promise.allSettled(Array.from({ length: 8 }, async () => await ask(client)))
      const codes = burst.map(r => r.status === 'fulfilled' ? 'ok' : (r.reason as { code?: string }).code)
      expect(codes.filter(c => c === 'ok').length).toBeGreaterThanOrEqual(1)
      expect(codes.filter(c => c === 'busy' || c === 'rate-limited').length).toBeGreaterThanOrEqual(1)
      expect(codes.every(c => c === 'ok' || c === 'busy' || c === 'rate-limited'), codes.join(' ')).toBe(true)
      // this peer has now used its window; it is refused, another peer is served
      await expect(ask(client)).rejects.toMatchObject({ code: 'rate-limited' })
      expect(await ask(other, { ...base, count: 1, steps: 2 })).toHaveLength(1)
      expect(limited.active).toBe(0)
      // What it counts for metrics (node/node-metrics.ts): every answer once, under its outcome.
      const count = (code: string): number => codes.filter(c => c === code).length
      const busy = count('busy') > 0 ? { busy: count('busy') } : {}
      const expected = { served: count('ok') + 1, 'rate-limited': count('rate-limited') + 1, ...busy }
      await vi.waitFor(() => { expect(limited.counters()).toEqual(expected) })
    } finally {
      await limited.stop()
      served.dispose()
      await other.stop()
      await capped.stop()
    }
  })
})
