/**
 * The swarm as users run it: separate `hddm-node` processes on 127.0.0.1 (a bootstrap peer and
 * contributors), a tiny budget, and an in-process observer peer that watches the run's gossip,
 * pings contributors while they train, and fetches every final checkpoint by CID.
 *
 * Every wait is budgeted by the measured speed of the machine (test/utils/machine-speed.ts): the
 * budgets below are those of an idle 2-core machine, scaled up when this one trains slower. A
 * wait that times out prints the observer's claim table, each contributor's own view of it, the
 * observer's verdicts on finals and each process's events and log tail.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { afterAll, describe, expect, it } from 'vitest'
import { createHddmNode, type HddmNode } from '../../src/node/hddm-node.js'
import { allFinite, decodeCheckpoint } from '../../src/checkpoint/format.js'
import { tinyRun, writeManifest } from '../node/fixtures.js'
import { budgetOf } from '../../src/protocol/run-manifest.js'
import { measureMachineSpeed } from '../utils/machine-speed.js'
import { captureLog } from '../utils/log-capture.js'
import { waitFor, type Probed } from '../utils/wait.js'
import { describeCoverage, describeProcesses, logTail, runCli, stop, type CliProcess } from './processes.js'

/** Which data directories under `root` hold `cid` in their blockstore (read from disk). */
async function holdersOnDisk (root: string, cid: CID): Promise<string> {
  const { readdir } = await import('node:fs/promises')
  const { FsBlockstore } = await import('blockstore-fs')
  const out: string[] = []
  for (const name of await readdir(root)) {
    const store = new FsBlockstore(join(root, name, 'blocks'))
    try {
      await store.open()
      if (await store.has(cid)) out.push(name)
      await store.close()
    } catch {}
  }
  return out.join(', ')
}

type Event = Record<string, unknown>

/**
 * The latest checkpoint a process announced for the task it is training now, if past step 0 and
 * at most `lastStep`: its last task event is 'training' and a checkpoint of that task followed
 * it. The bound leaves the test time to kill the process before the task ends.
 */
function midTask (p: CliProcess, lastStep: number): Event | undefined {
  const lastTask = p.events.findLast((e) => e.event === 'task')
  if (lastTask?.phase !== 'training') return undefined
  const since = p.events.slice(p.events.indexOf(lastTask))
  return since.findLast((e) => e.event === 'checkpoint' && e.task === lastTask.task && e.final === false &&
    (e.step as number) > 0 && (e.step as number) <= lastStep)
}

function firstMidTask (candidates: CliProcess[], lastStep: number):
{ process: CliProcess, checkpoint: Event } | undefined {
  for (const p of candidates) {
    const checkpoint = midTask(p, lastStep)
    if (checkpoint !== undefined) return { process: p, checkpoint }
  }
  return undefined
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/**
 * Freezes `victim` (SIGSTOP) with the last checkpoint it announced for `task` held whole by
 * `observer`, which then serves it like any mirror: a checkpoint nobody else has dies with its
 * trainer, and the successor starts over. The victim runs only while the observer fetches its
 * latest checkpoint; after each fetch it is frozen again and the test checks that nothing newer
 * was announced meanwhile (gossip goes out before the process prints, so the observer's view
 * counts too). Returns the step of that checkpoint.
 */
async function freezeOnceMirrored (observer: HddmNode, victim: CliProcess, task: string,
  timeline: () => string): Promise<{ task: string, step: number }> {
  const started = victim.events.find((e) => e.event === 'started') as { peerId: string, multiaddrs: string[] }
  const victimId = started.peerId
  // Ask the victim by address: the observer may not be connected to it, and a DHT lookup for a
  // provider can outlast several of the victim's checkpoint intervals on a loaded machine.
  const providers = [started.multiaddrs[0]]
  const latest = (): Event | undefined => {
    const printed = victim.events.findLast((e) => e.event === 'checkpoint' && e.task === task)
    const row = observer.coverage().find((r) => r.task === task && r.checkpoint?.peer === victimId)
    const heard = row?.checkpoint as Event | undefined
    return [printed, heard].filter((c) => c !== undefined).sort((a, b) => (b.step as number) - (a.step as number))[0]
  }
  const errors: string[] = []
  victim.child.kill('SIGSTOP')
  await sleep(500)
  for (let tries = 0; tries < 20; tries++) {
    const checkpoint = latest()
    if (checkpoint === undefined || checkpoint.final === true) break
    const cid = CID.parse(checkpoint.cid as string)
    const held = await observer.blocks.getBytes(cid, { offline: true }).then(() => true, () => false)
    if (held) return { task, step: checkpoint.step as number }
    // Let the victim serve the fetch, but freeze it again as soon as the fetch ends or it
    // announces a newer checkpoint (then that one is the one to fetch): it gains a few steps
    // per try, not a whole task.
    victim.child.kill('SIGCONT')
    let settled = false
    const fetched = observer.blocks.getBytes(cid, { timeoutMs: 10_000, providers })
      .catch((err: Error) => { errors.push(`step ${checkpoint.step as number}: ${err.message}`) })
      .finally(() => { settled = true })
    const deadline = Date.now() + 10_000
    while (!settled && (latest()?.step as number) === checkpoint.step && Date.now() < deadline) await sleep(20)
    victim.child.kill('SIGSTOP')
    await fetched
    await sleep(500)
  }
  throw new Error(`the observer could not hold the victim's latest checkpoint of ${task} before the task ended; ` +
    `fetches failed: ${errors.join('; ')}\n${timeline()}`)
}

const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0', '--scope', 'loopback', '--log-format', 'json']

const speed = await measureMachineSpeed()
const budget = speed.budget
/** The observer's log: its final verdicts and lease-evidence decisions, for a timeout. */
const observerLog = captureLog()

describe('a swarm of hddm-node processes on 127.0.0.1', () => {
  const processes: CliProcess[] = []
  let observer: HddmNode | undefined
  let root: string
  afterAll(async () => {
    await observer?.stop()
    await Promise.all(processes.map(stop))
    if (root !== undefined) await rm(root, { recursive: true, force: true, maxRetries: 5 })
  }, 90_000)

  const start = (name: string, args: string[], label = name): CliProcess => {
    const p = runCli(['start', ...args, '--data-dir', join(root, name), ...LOOPBACK], label)
    processes.push(p)
    return p
  }
  const trainingEvent = (p: CliProcess, task: string, from = 0): Record<string, unknown> | undefined =>
    p.events.slice(from).find((e) => e.event === 'task' && e.task === task && e.phase === 'training')

  const title = 'finishes every task despite a SIGKILLed contributor (taken over from its announced checkpoint) ' +
    'and a restarted one (resumed from its own)'
  it(title, { timeout: budget(600_000) }, async () => {
    console.log(speed.summary)
    const began = Date.now()
    // What the test did to the swarm, and when: a timeout reads against it.
    const story: string[] = []
    const tell = (line: string): void => { story.push(`${((Date.now() - began) / 1000).toFixed(0)} s: ${line}`) }
    root = await mkdtemp(join(tmpdir(), 'hddm-swarm-'))
    // Which contributor gets which task, and when, is up to the swarm; the test picks its victims
    // from what the processes print. A checkpoint every 100 steps leaves the observer a long
    // window to copy the victim's latest before the next one (50 steps were too few once, with
    // another swarm test beside it); a short router budget makes nodes take the experts first.
    // The lease scales with the machine: the restarted contributor must be back before its lease
    // ends, or an idle peer takes its task (a restart took 44 s of a 40 s lease under CI load).
    const manifest = await tinyRun({
      name: 'swarm-test', steps: 300, routerSteps: 50, checkpointEvery: 100, leaseMs: budget(40_000), images: 400
    })
    const lastStep = manifest.training.expert.steps - manifest.training.expert.checkpointEvery
    const bootstrap = runCli(['bootstrap', '--listen', '/ip4/127.0.0.1/tcp/0', '--data-dir', join(root, 'bootstrap'),
      '--json', '--log-format', 'json'])
    processes.push(bootstrap)
    // Whatever is known when a wait times out: the processes, then the observer's view once it runs.
    let watching: (() => Promise<string>) | undefined
    const explain = async (): Promise<string> =>
      `${speed.summary}\n${story.join('\n')}\n${describeProcesses(processes)}\n${await watching?.() ?? ''}`
    const until = async <T>(probe: () => T, what: string, referenceMs: number): Promise<Probed<T>> =>
      await waitFor(probe, what, { timeoutMs: budget(referenceMs), explain })
    const listening = await until(() => bootstrap.events.find((e) => Array.isArray(e.multiaddrs)),
      'the bootstrap peer', 240_000)
    const bootstrapAddr = (listening as { multiaddrs: string[] }).multiaddrs[0]

    const creator = start('node-1', ['--manifest', await writeManifest(manifest), '--bootstrap', bootstrapAddr])
    const created = await until(() => creator.events.find((e) => e.event === 'started'), 'the run', 240_000)
    const started = created as { runId: string, multiaddrs: string[] }
    // The observer listens before the other contributors start, so it sees every announcement.
    observer = createHddmNode({
      dataDir: join(root, 'observer'),
      source: { run: started.runId },
      bootstrap: [bootstrapAddr, started.multiaddrs[0]],
      listen: ['/ip4/127.0.0.1/tcp/0'],
      scope: 'loopback',
      tasks: 0,
      logger: observerLog.logger('observer')
    })
    await observer.start()
    const watcher = observer
    const verdicts: string[] = []
    watcher.finalVerifier.addEventListener('verdict', ({ detail: v }) => {
      const verdict = v.accepted ? 'accepted' : `${v.reason ?? ''} ${v.message ?? ''}`
      verdicts.push(`${v.task} from ${v.peer.slice(-6)}: ${verdict}`)
    })
    const peers = ['--bootstrap', bootstrapAddr, '--bootstrap', started.multiaddrs[0], '--run', started.runId]
    const contributors = [start('node-2', peers), start('node-3', peers)]
    const timeline = (): string =>
      `${describeProcesses(processes, 0)}\nthe observer's verdicts on finals:\n${verdicts.join('\n')}`
    // Each contributor's own claim table (through the coverage protocol) next to the observer's:
    // a task nobody finishes is either held by someone who does not train it or seen differently.
    watching = async () => {
      const views = await watcher.peerCoverage().catch((err: Error) => { return `(${err.message})` })
      const peers = typeof views === 'string'
        ? views
        : views.map((v, i) => `view ${i + 1}:\n${describeCoverage(v)}`).join('\n')
      return `the observer's claim table:\n${describeCoverage(watcher.coverage())}\nthe peers' tables:\n${peers}\n` +
        `done here: ${watcher.doneTasks().join(', ')}\nthe observer's verdicts on finals:\n${verdicts.join('\n')}\n` +
        `the observer logged:\n${observerLog.tail(30)}`
    }

    // Responsiveness: while the creator trains, pings keep answering and no healthy lease lapses.
    await until(() => creator.events.find((e) => e.event === 'step'), 'the creator to train', 240_000)
    const rtts: number[] = []
    const ping = async (): Promise<number> => await watcher.ping(started.multiaddrs[0].split('/p2p/')[1])
    for (let i = 0; i < 5; i++) rtts.push(await ping())
    expect(Math.max(...rtts)).toBeLessThan(manifest.leaseMs / 4)

    // First, SIGKILL the first contributor that is mid-task and restart it at once on the same
    // data directory: it must go back to its own task from its own local checkpoint.
    const { process: first, checkpoint: ownCheckpoint } =
      await until(() => firstMidTask(contributors, lastStep), 'a contributor to checkpoint mid-task', 240_000)
    const ownTask = ownCheckpoint.task as string
    first.child.kill('SIGKILL')
    await first.exited
    tell(`SIGKILLed ${first.name} after its checkpoint of ${ownTask} at step ${ownCheckpoint.step as number}; restart`)
    const finalBeforeRestart = watcher.doneTasks()
    const restarted = start(first.name, peers, `${first.name} (restarted)`)
    const resumed = await until(() => trainingEvent(restarted, ownTask), 'the restarted node to train it', 120_000)

    // Then SIGKILL a contributor that is mid-task (the restarted one at the latest, once it
    // checkpoints past its resume point), once a peer holds a whole copy of its latest checkpoint
    // (the root block alone is not enough: a half-mirrored file cannot be finished once its only
    // source is gone). Its task must be taken over from that checkpoint after the lease.
    const survivors = [contributors.find((p) => p !== first)!, restarted]
    const { process: victim, checkpoint: mid } =
      await until(() => firstMidTask(survivors, lastStep), 'a contributor to announce a checkpoint mid-task', 300_000)
    tell(`freezing ${victim.name} after its checkpoint of ${mid.task as string} at step ${mid.step as number}`)
    const killed = await freezeOnceMirrored(watcher, victim, mid.task as string, timeline)
    victim.child.kill('SIGKILL')
    tell(`SIGKILLed ${victim.name}: the observer holds its checkpoint of ${killed.task} at step ${killed.step}`)

    const total = manifest.tasks.length
    await until(() => watcher.doneTasks().length === total, 'every task to reach a verified final checkpoint', 300_000)

    // The killed node's task was taken over (after its lease) from its announced checkpoint, not from step 0.
    const takers = [creator, ...survivors.filter((p) => p !== victim)]
    const takeover = takers.map((p) => trainingEvent(p, killed.task))
      .find((e) => e !== undefined && (e.resumedFromStep as number) > 0)
    const history = takers.map((p) => p.events.filter((e) => e.task === killed.task && e.event === 'task'))
    const logs = takers.map((p) => logTail(p, 40))
    const events = `task events of ${killed.task} (killed at step ${killed.step}): ${JSON.stringify(history)}`
    expect(takeover, `${events}\nlogs:\n${logs.join('\n---\n')}`).toBeDefined()
    // The restarted node went back to its own task, from its own local checkpoint.
    expect(resumed.resumedFromStep).toBeGreaterThan(0)
    // It learned what had finished while it was down (checkpoint sync) and did not train it again.
    const retrained = restarted.events
      .filter((e) => e.event === 'task' && e.phase === 'training' && finalBeforeRestart.includes(e.task as string))
    expect(retrained).toEqual([])

    // Each final checkpoint is fetched from its announcer, dialled at the address it printed last
    // (the observer need not be connected to it, and a restarted node listens on a new port), or
    // from the creator, whose checkpoint mirror holds every task's latest announcement.
    const addressOf = new Map<string, string>()
    for (const p of processes) {
      for (const e of p.events) {
        if (e.event === 'started') addressOf.set(e.peerId as string, (e.multiaddrs as string[])[0])
      }
    }
    for (const row of watcher.coverage()) {
      const announcer = addressOf.get(row.checkpoint!.peer) ?? row.checkpoint!.peer
      const providers = [announcer, started.multiaddrs[0]]
      const bytes = await watcher.blocks.getBytes(CID.parse(row.checkpoint!.cid), { timeoutMs: 60_000, providers })
        .catch(async (err) => {
          const held = await holdersOnDisk(root, CID.parse(row.checkpoint!.cid))
          const where = `${row.task} announced by ${row.checkpoint!.peer} at ${announcer}; held by: ${held}`
          throw new Error(`${String(err)}; ${where}\n${describeProcesses(processes)}`)
        })
      const checkpoint = decodeCheckpoint(bytes)
      const task = manifest.tasks.find((t) => t.id === row.task)!
      expect(checkpoint.metadata.network).toBe(task.kind)
      expect(checkpoint.metadata.step).toBe(budgetOf(manifest, task).steps)
      expect(checkpoint.metadata.run).toBe(started.runId)
      expect(allFinite(checkpoint.tensors)).toBe(true)
    }
    // No lease lapsed on a healthy node (the creator was never killed).
    expect(creator.events.filter((e) => e.event === 'task' && e.phase === 'lost-lease')).toEqual([])
  })

  const refusal = 'refuses a run CID that never resolves: one line naming the error, non-zero exit'
  it(refusal, { timeout: budget(90_000) }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hddm-unknown-'))
    try {
      const unknown = 'baguqeeraui3ubmbbrwvbfnyzqmwlrj5o5cm3kvbzqkqq3hh4qlmk4iajpx5q'
      const p = runCli(['start', '--run', unknown, '--resolve-timeout', '1000', '--data-dir', dir, ...LOOPBACK])
      expect(await p.exited).toBe(1)
      expect(p.stderr()).toMatch(/^hddm-node: RunNotFoundError: /m)
      expect(p.stderr()).not.toMatch(/\n\s+at /)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
