/**
 * Prometheus metrics of running nodes (issue 15): a contributor that trains one task and a
 * serving node that follows it, each with its own registry and /metrics endpoint on
 * 127.0.0.1, scraped over HTTP and parsed strictly (exposition.ts); a peer that sends hostile
 * gossip is counted under the right rejection code.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FinalVerdict } from '../../src/node/final-verifier.js'
import { createHddmNode, type HddmNode } from '../../src/node/hddm-node.js'
import { multiaddr } from '@multiformats/multiaddr'
import { requestSamples } from '../../src/network/sample-client.js'
import { createMetricsServer, type MetricsServer } from '../../src/node/metrics-server.js'
import { createNodeMetrics, type NodeMetrics } from '../../src/node/node-metrics.js'
import { createWorkerTaskTrainer } from '../../src/node/worker-trainer.js'
import { encodeGossipMessage } from '../../src/protocol/codec.js'
import { newNonce } from '../../src/protocol/messages.js'
import { runTopic } from '../../src/protocol/topics.js'
import { createGossipValidator } from '../../src/protocol/validate.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { captureLog } from '../utils/log-capture.js'
import { waitFor } from '../utils/wait.js'
import { ExpositionError, parseExposition, valueOf, type MetricFamily } from './exposition.js'
import { FAST_LOOP, tinyRun } from './fixtures.js'

const log = captureLog()
type Families = Map<string, MetricFamily>

interface Observed {
  node: HddmNode
  registry: Registry
  metrics: NodeMetrics
  server: MetricsServer
}

/** GET /metrics, checked as Prometheus would: status, content type, then the text, strictly. */
async function scrape (server: MetricsServer): Promise<Families> {
  const res = await fetch(server.url)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return parseExposition(await res.text())
}

describe('metrics of running nodes, scraped over HTTP on 127.0.0.1', () => {
  const dirs: string[] = []
  const observed: Observed[] = []
  let a: Observed
  let b: Observed
  let attacker: TestNode | undefined

  /** A node with its own registry, hddm's metrics counting from before its start, and an endpoint on a free port. */
  const observe = async (name: string, init: Omit<Parameters<typeof createHddmNode>[0], 'dataDir'>):
  Promise<Observed> => {
    const dataDir = await mkdtemp(join(tmpdir(), `hddm-metrics-${name}-`))
    dirs.push(dataDir)
    const registry = new Registry()
    const node = createHddmNode({
      listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback', heartbeatIntervalMs: 200, ...init,
      dataDir, metrics: registry, logger: log.logger(name)
    })
    const metrics = createNodeMetrics({ registry }, { node })
    const server = createMetricsServer({ port: 0 }, { registry })
    const o = { node, registry, metrics, server }
    observed.push(o)
    metrics.start()
    await server.start()
    await node.start()
    return o
  }

  beforeAll(async () => {
    // The router's shorter budget makes A start on an expert (most steps left), which reports every step.
    const manifest = await tinyRun({
      name: 'metrics-test', steps: 12, routerSteps: 6, checkpointEvery: 4, leaseMs: 15_000
    })
    // A trains one task; B trains none and follows: it mirrors and verifies what A announces.
    a = await observe('A', { source: { manifest }, trainer: createWorkerTaskTrainer({ backend: 'auto' }),
      tasks: 1, loop: FAST_LOOP })
    b = await observe('B', { source: { run: a.node.runId }, bootstrap: [a.node.multiaddrs()[0]], tasks: 0 })
  }, 120_000)

  afterAll(async () => {
    await attacker?.stop()
    for (const o of observed) {
      await o.node.stop()
      o.metrics.stop()
      await o.server.stop()
    }
    for (const dir of dirs) await rm(dir, { recursive: true, force: true, maxRetries: 5 })
  }, 120_000)

  it('serves libp2p\'s metrics and hddm\'s from one endpoint bound to loopback', async () => {
    expect(a.server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const families = await scrape(a.server)
    const libp2p = [...families.keys()].filter((n) => n.startsWith('libp2p_'))
    expect(libp2p).toEqual(expect.arrayContaining(['libp2p_data_transfer_bytes_total']))
    expect(libp2p.length).toBeGreaterThan(10)
    expect(families.get('process_cpu_user_seconds_total')?.type).toBe('counter')
    const hddm: Record<string, string> = {
      hddm_training_step: 'gauge',
      hddm_training_loss: 'gauge',
      hddm_training_images_per_second: 'gauge',
      hddm_training_steps_total: 'counter',
      hddm_tasks: 'gauge',
      hddm_claims_total: 'counter',
      hddm_checkpoints_announced_total: 'counter',
      hddm_checkpoints_fetched_total: 'counter',
      hddm_checkpoints_verified_total: 'counter',
      hddm_checkpoints_refused_total: 'counter',
      hddm_gossip_messages_total: 'counter',
      hddm_sample_requests_total: 'counter',
      hddm_bitswap_bytes_total: 'counter',
      hddm_connection_repairs_total: 'counter'
    }
    for (const [name, type] of Object.entries(hddm)) expect(families.get(name)?.type, name).toBe(type)
    // Five tasks in the tiny run, every one in some state.
    const states = ['free', 'held', 'training', 'done'].map((state) => valueOf(families, 'hddm_tasks', { state }) ?? 0)
    expect(states.reduce((x, y) => x + y)).toBe(5)
  })

  it('counts training as it happens: steps grow, a claim is won, checkpoints are announced', { timeout: 300_000 },
    async () => {
    const step = async (): Promise<number> => {
      const series = (await scrape(a.server)).get('hddm_training_step')?.samples ?? []
      return Math.max(0, ...series.map((s) => s.value))
    }
    const first = await waitFor(async () => { const s = await step(); return s > 0 ? s : undefined },
      'a first training step on A', { timeoutMs: 200_000, explain: () => log.tail() })
    await waitFor(async () => await step() > first, 'A\'s training step to grow',
      { timeoutMs: 200_000, explain: () => log.tail() })
    const announced = async (): Promise<Families | undefined> => {
      const families = await scrape(a.server)
      return (valueOf(families, 'hddm_checkpoints_announced_total', { final: 'true' }) ?? 0) >= 1 ? families : undefined
    }
    const families = await waitFor(announced, 'A to announce its final checkpoint',
      { timeoutMs: 250_000, explain: () => log.tail() })
    expect(valueOf(families, 'hddm_checkpoints_announced_total', { final: 'false' })).toBeGreaterThanOrEqual(1)
    expect(valueOf(families, 'hddm_claims_total', { result: 'won' })).toBe(1)
    expect(valueOf(families, 'hddm_task_phases_total', { phase: 'done' })).toBe(1)
    // 12 steps from step 0, however often the trainer reported them.
    const trained = families.get('hddm_training_steps_total')!.samples
    expect(trained).toHaveLength(1)
    expect(trained[0].value).toBe(12)
    expect(valueOf(families, 'hddm_training_loss', trained[0].labels)).toBeGreaterThan(0)
    expect(valueOf(families, 'hddm_training_images_per_second', trained[0].labels)).toBeGreaterThan(0)
  })

  it('counts on the follower what it receives: accepted gossip, fetched and judged checkpoints, bitswap bytes',
    { timeout: 120_000 }, async () => {
    // Twelve steps may or may not bring an expert under the run's held-out bound: either verdict
    // on A's final will do, as long as it is counted under the right label.
    const verdict = (): FinalVerdict | undefined => {
      const row = b.node.coverage().find((r) => (r.finals ?? []).length > 0)
      return row === undefined ? undefined : b.node.finalVerifier.verdictOf(row.task, row.finals![0].cid)
    }
    // The verifier fetches the final itself, so its verdict can come before the mirror's own fetch.
    const judgedAndMirrored = (): FinalVerdict | undefined =>
      b.node.counters().mirror.fetched >= 1 ? verdict() : undefined
    const judged = await waitFor(judgedAndMirrored, 'B to judge A\'s final checkpoint and mirror it',
      { timeoutMs: 100_000, explain: () => log.tail() })
    const families = await scrape(b.server)
    const finals = (name: string): number => (families.get(name)?.samples ?? [])
      .filter((s) => s.labels.check === 'final').reduce((sum, s) => sum + s.value, 0)
    expect(finals('hddm_checkpoints_verified_total') + finals('hddm_checkpoints_refused_total')).toBe(1)
    if (judged.accepted) {
      expect(valueOf(families, 'hddm_checkpoints_verified_total', { check: 'final' })).toBe(1)
      expect(valueOf(families, 'hddm_tasks', { state: 'done' })).toBe(1)
    } else {
      const reason = judged.reason!
      expect(valueOf(families, 'hddm_checkpoints_refused_total', { check: 'final', reason })).toBe(1)
    }
    expect(valueOf(families, 'hddm_gossip_messages_total', { result: 'accept' })).toBeGreaterThan(0)
    expect(valueOf(families, 'hddm_checkpoints_fetched_total', { result: 'ok' })).toBeGreaterThanOrEqual(1)
    expect(valueOf(families, 'hddm_bitswap_bytes_total', { direction: 'in' })).toBeGreaterThan(0)
    expect(valueOf(await scrape(a.server), 'hddm_bitswap_bytes_total', { direction: 'out' })).toBeGreaterThan(0)
  })

  it('keeps each node\'s metrics in its own registry', async () => {
    expect(a.registry).not.toBe(b.registry)
    const [fromA, fromB] = [await scrape(a.server), await scrape(b.server)]
    // B trains nothing and claims nothing; A won its claim.
    expect(fromB.get('hddm_training_step')?.samples ?? []).toHaveLength(0)
    expect(valueOf(fromB, 'hddm_claims_total', { result: 'won' })).toBe(0)
    expect(valueOf(fromA, 'hddm_claims_total', { result: 'won' })).toBe(1)
    // Both got all of libp2p's metrics, including those registered while each node started.
    const libp2p = (f: Families): string[] => [...f.keys()].filter((n) => n.startsWith('libp2p_')).sort()
    expect(libp2p(fromB)).toEqual(libp2p(fromA))
    expect(libp2p(fromB)).toEqual(expect.arrayContaining(['libp2p_tcp_listener_events_total']))
  })

  it('counts a forged and a malformed message from a hostile peer under their rejection codes', async () => {
    const run = a.node.runId
    const hostile = attacker = await createTestNode({ bootstrap: [a.node.multiaddrs()[0]] })
    hostile.gossip.join(run, createGossipValidator({ run, manifest: a.node.manifest }))
    const seesA = (): boolean => hostile.gossip.subscribers(run).includes(a.node.peerId)
    await waitFor(seesA, 'the attacker to see A on the run topic')
    const rejected = async (code: string): Promise<number> =>
      valueOf(await scrape(a.server), 'hddm_gossip_messages_total', { result: 'reject', code }) ?? 0
    expect(await rejected('forged')).toBe(0)
    const ts = Date.now()
    // A claim in B's name, signed by the attacker, sent raw (its own validator would refuse it).
    const forged = encodeGossipMessage({
      v: 1, type: 'claim', run, peer: b.node.peerId, ts, task: a.node.manifest.tasks[0].id,
      leaseUntil: ts + 10_000, nonce: newNonce()
    })
    await hostile.swarm.pubsub.publish(runTopic(run), forged)
    await waitFor(async () => await rejected('forged') === 1, 'A to count the forged claim',
      { explain: () => log.tail() })
    await hostile.swarm.pubsub.publish(runTopic(run), new TextEncoder().encode('{"v":1,"type":"claim",'))
    await waitFor(async () => await rejected('malformed') === 1, 'A to count the malformed message',
      { explain: () => log.tail() })
    expect(await rejected('forged')).toBe(1)
  })

  it('counts a sample request it refuses, under its code', async () => {
    const asker = attacker ?? await createTestNode()
    attacker = asker
    const ensemble = (await asker.storage.putJson({ not: 'an ensemble A holds' })).toString()
    const request = { v: 1 as const, ensemble, prompts: ['seven'], count: 1, steps: 1, seed: 0 }
    await expect(requestSamples(asker.swarm.libp2p, multiaddr(a.node.multiaddrs()[0]), request))
      .rejects.toMatchObject({ name: 'SampleRefusedError', code: 'unknown-ensemble' })
    const families = await scrape(a.server)
    const refused = { result: 'refused', code: 'unknown-ensemble' }
    expect(valueOf(families, 'hddm_sample_requests_total', refused)).toBe(1)
    expect(valueOf(families, 'hddm_sample_requests_total', { result: 'served' })).toBeUndefined()
  })

  it('refuses to serve on a port that is taken, with a MetricsListenError', async () => {
    const taken = createMetricsServer({ port: Number(new URL(a.server.url).port) }, { registry: a.registry })
    await expect(taken.start()).rejects.toHaveProperty('name', 'MetricsListenError')
  })
})

describe('the exposition parser the scrapes go through', () => {
  const ok = '# HELP up Whether it is up\n# TYPE up gauge\nup{job="a",path="C:\\\\x \\"q\\""} 1\n'

  it('reads families, types, escaped label values and Prometheus\' spellings of NaN and Inf', () => {
    const families = parseExposition(ok + '# TYPE t gauge\nt NaN\nt{a="b"} +Inf\nt{a="c"} Nan\n')
    expect(families.get('up')).toMatchObject({ type: 'gauge', help: 'Whether it is up' })
    expect(families.get('up')!.samples[0].labels).toEqual({ job: 'a', path: 'C:\\x "q"' })
    expect(valueOf(families, 't', { a: 'b' })).toBe(Infinity)
  })

  it('refuses what a Prometheus server would not take, or that is ambiguous', () => {
    const bad = [
      'up 1\n', // no TYPE
      '# TYPE up gauge\nup 1', // no final line feed
      '# TYPE up gauge\nup 1\nup 2\n', // the same series twice
      '# TYPE up gauge\nup{a="x} 1\n', // an unterminated label value
      '# TYPE up gauge\nup{a="\\q"} 1\n', // an unknown escape
      '# TYPE up gauge\nup one\n', // not a float
      '# TYPE up gauge\n# TYPE down gauge\ndown 1\nup 1\n', // a family split by another
      '# TYPE up gauge\nup 1\n# TYPE up counter\n' // metadata after samples
    ]
    for (const text of bad) expect(() => parseExposition(text), text).toThrow(ExpositionError)
  })
})
