/**
 * Ctrl-C on a training contributor (`hddm-node start`): it writes and announces a last
 * checkpoint, releases its claim at once (not at lease end), and exits 0. An in-process observer
 * peer watches the run's gossip.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createHddmNode, type HddmNode } from '../../src/node.js'
import { tinyRun, writeManifest } from '../node/fixtures.js'
import { runCli, stop, waitFor, type CliProcess } from './processes.js'

describe('hddm-node start, interrupted while training', () => {
  let root: string | undefined
  let contributor: CliProcess | undefined
  let observer: HddmNode | undefined
  afterAll(async () => {
    await observer?.stop()
    if (contributor !== undefined) await stop(contributor)
    if (root !== undefined) await rm(root, { recursive: true, force: true, maxRetries: 5 })
  }, 60_000)

  it('announces a last checkpoint, releases its claim and exits 0 on SIGINT', { timeout: 240_000 }, async () => {
    root = await mkdtemp(join(tmpdir(), 'hddm-interrupt-'))
    // A budget it cannot finish, and a lease far longer than the test waits for the release.
    // Experts write a last checkpoint when stopped; the router restarts from step 0 by design
    // (node/router-task.ts), so a shorter router budget makes the node start on an expert.
    const manifest = await tinyRun({ name: 'interrupt-test', steps: 5000, routerSteps: 50, checkpointEvery: 1000, leaseMs: 120_000, images: 300 })
    const p = contributor = runCli(['start', '--manifest', await writeManifest(manifest), '--data-dir', join(root, 'node'),
      '--listen', '/ip4/127.0.0.1/tcp/0', '--scope', 'loopback', '--log-format', 'json'])
    const started = await waitFor(() => p.events.find((e) => e.event === 'started'), 'the node to start') as { runId: string, multiaddrs: string[], peerId: string }
    observer = createHddmNode({ dataDir: join(root, 'observer'), source: { run: started.runId }, bootstrap: [started.multiaddrs[0]], listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback', tasks: 0 })
    await observer.start()
    const watcher = observer

    const task = (await waitFor(() => p.events.find((e) => e.event === 'step' && (e.step as number) >= 3), 'a few training steps') as { task: string }).task
    expect(manifest.tasks.find((t) => t.id === task)?.kind).toBe('expert')
    await waitFor(() => watcher.coverage().find((r) => r.task === task && r.holders.some((h) => h.peer === started.peerId)), 'the observer to see the claim')
    const interruptedAt = Date.now()
    p.child.kill('SIGINT')
    expect(await p.exited).toBe(0)

    const last = p.events.filter((e) => e.event === 'checkpoint' && e.task === task).at(-1)
    expect(last, `no checkpoint announced for ${task}; the node logged:\n${p.stderr().split('\n').slice(-30).join('\n')}`).toMatchObject({ final: false })
    expect(last!.step as number).toBeGreaterThanOrEqual(3)
    expect(p.events.some((e) => e.event === 'task' && e.task === task && e.phase === 'stopped')).toBe(true)
    // The observer heard both: the task is free long before its 120 s lease would have ended,
    // and a successor would resume from the announced step.
    const row = await waitFor(() => watcher.coverage().find((r) => r.task === task && r.holders.length === 0 && r.checkpoint?.cid === last!.cid), 'the release and the last checkpoint', 30_000)
    expect(Date.now() - interruptedAt).toBeLessThan(manifest.leaseMs / 2)
    expect(row.checkpoint!.step).toBe(last!.step)
  })
})
