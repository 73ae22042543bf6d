/**
 * Ctrl-C on a training contributor (`hddm-node start`): it writes and announces a last
 * checkpoint, releases its claim at once (not at lease end), and exits 0. An in-process observer
 * peer watches the run's gossip. Waits are budgeted by the measured speed of the machine
 * (test/utils/machine-speed.ts) and say, on a timeout, what the node did and logged.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createHddmNode, type HddmNode } from '../../src/node/hddm-node.js'
import { type TaskCoverage } from '../../src/network/claim-types.js'
import { tinyRun, writeManifest } from '../node/fixtures.js'
import { measureMachineSpeed } from '../utils/machine-speed.js'
import { waitFor, type Probed } from '../utils/wait.js'
import { describeCoverage, describeProcesses, logTail, runCli, stop, type CliProcess } from './processes.js'

const speed = await measureMachineSpeed()

describe('hddm-node start, interrupted while training', () => {
  let root: string | undefined
  let contributor: CliProcess | undefined
  let observer: HddmNode | undefined
  afterAll(async () => {
    await observer?.stop()
    if (contributor !== undefined) await stop(contributor)
    if (root !== undefined) await rm(root, { recursive: true, force: true, maxRetries: 5 })
  }, 60_000)

  const title = 'announces a last checkpoint, releases its claim and exits 0 on SIGINT'
  it(title, { timeout: speed.budget(240_000) }, async () => {
    console.log(speed.summary)
    root = await mkdtemp(join(tmpdir(), 'hddm-interrupt-'))
    // A budget it cannot finish, and a lease far longer than the test waits for the release.
    // Experts write a last checkpoint when stopped; the router restarts from step 0 by design
    // (node/router-task.ts), so a shorter router budget makes the node start on an expert.
    const manifest = await tinyRun({
      name: 'interrupt-test', steps: 5000, routerSteps: 50, checkpointEvery: 1000, leaseMs: 120_000, images: 300
    })
    const args = ['--data-dir', join(root, 'node'), '--listen', '/ip4/127.0.0.1/tcp/0', '--scope', 'loopback',
      '--log-format', 'json']
    const p = contributor = runCli(['start', '--manifest', await writeManifest(manifest), ...args], 'node')
    const explain = (): string => `${describeProcesses([p])}\n${describeCoverage(observer?.coverage() ?? [])}`
    const until = async <T>(probe: () => T, what: string, referenceMs: number): Promise<Probed<T>> =>
      await waitFor(probe, what, { timeoutMs: speed.budget(referenceMs), explain })
    const started = await until(() => p.events.find((e) => e.event === 'started'), 'the node to start', 240_000) as
      { runId: string, multiaddrs: string[], peerId: string }
    observer = createHddmNode({
      dataDir: join(root, 'observer'),
      source: { run: started.runId },
      bootstrap: [started.multiaddrs[0]],
      listen: ['/ip4/127.0.0.1/tcp/0'],
      scope: 'loopback',
      tasks: 0
    })
    await observer.start()
    const watcher = observer

    const stepped = await until(() => p.events.find((e) => e.event === 'step' && (e.step as number) >= 3),
      'a few training steps', 240_000)
    const task = (stepped as { task: string }).task
    expect(manifest.tasks.find((t) => t.id === task)?.kind).toBe('expert')
    const claimed = (): boolean =>
      watcher.coverage().some((r) => r.task === task && r.holders.some((h) => h.peer === started.peerId))
    await until(claimed, 'the observer to see the claim', 240_000)
    const interruptedAt = Date.now()
    p.child.kill('SIGINT')
    expect(await p.exited).toBe(0)

    const last = p.events.filter((e) => e.event === 'checkpoint' && e.task === task).at(-1)
    expect(last, `no checkpoint announced for ${task}; the node logged:\n${logTail(p)}`).toMatchObject({ final: false })
    expect(last!.step as number).toBeGreaterThanOrEqual(3)
    expect(p.events.some((e) => e.event === 'task' && e.task === task && e.phase === 'stopped')).toBe(true)
    // The observer heard both: the task is free long before its 120 s lease would have ended,
    // and a successor would resume from the announced step.
    const released = (): TaskCoverage | undefined =>
      watcher.coverage().find((r) => r.task === task && r.holders.length === 0 && r.checkpoint?.cid === last!.cid)
    const row = await until(released, 'the release and the last checkpoint', 30_000)
    expect(Date.now() - interruptedAt).toBeLessThan(manifest.leaseMs / 2)
    expect(row.checkpoint!.step).toBe(last!.step)
  })
})
