/**
 * A whole run across NATs (issue 16): a bootstrap peer (which relays, with limits) and the run's
 * creator on public hosts, one contributor behind each of two MASQUERADE routers. The NATed
 * contributors say at start that they are behind NAT and which relay they use, hold a relayed
 * address, train their tasks to finals; an `ensemble` on a public host verifies every final
 * (fetched over the connections the NATed nodes opened, and from the creator's mirror), a
 * serving node holds the named ensemble, and a NATed host asks it for samples.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRunManifest } from '../../src/protocol/run-manifest.js'
import { tinyRun, writeManifest } from '../node/fixtures.js'
import { describeProcesses } from '../simulation/processes.js'
import { waitForWith } from '../utils/wait.js'
import { NetnsRun, type HostCli } from './cli.js'
import { requireNetns } from './names.js'

await requireNetns()
const TASKS = ['expert-0', 'expert-1', 'expert-2', 'expert-3', 'router']

describe(`a run across two NATs with a relay`, () => {
  let t: NetnsRun
  const waitFor = waitForWith({ timeoutMs: 180_000, explain: () => describeProcesses(t?.processes ?? []) })

  beforeAll(async () => {
    t = await NetnsRun.create({
      public: ['boot', 'creator'],
      nats: [{ name: 'nat-1', hosts: ['home-1'] }, { name: 'nat-2', hosts: ['home-2'] }]
    }, 'netns-nat')
  }, 60_000)
  afterAll(async () => { await t?.stop() })

  it('NATed contributors report the relay, train to a verified ensemble, and sample from behind NAT',
    { timeout: 420_000 }, async () => {
      const { net, root } = t
      const ip = (host: string): string => t.ip(host)
      const run = (host: string, args: string[], name?: string): HostCli => t.run(host, args, name)
      const { addr: bootAddr } = await t.startBootstrap('boot', 4710)
      // A dozen steps leave an expert near the trivial-predictor bound, and the verifier and
      // `ensemble` score it with different seeds on one batch of 16: one run in the full suite had
      // expert-0 accepted by one (0.885) and refused by the other (0.888 against 10 x 0.075). This
      // test is about reaching peers behind NAT, so the bound is out of its way.
      const base = await tinyRun({ name: 'netns-nat-run', images: 200 })
      const loose = parseRunManifest({ ...base, eval: { ...base.eval, baselineFraction: 100 } })
      const manifest = await writeManifest(loose)
      const node = ['--scope', 'private', '--threads', '1', '--log-format', 'json']
      const creator = run('creator', ['start', '--manifest', manifest, '--tasks', '1', '--bootstrap', bootAddr,
        '--listen', `/ip4/${ip('creator')}/tcp/4711`, '--data-dir', join(root, 'creator'), ...node])
      const started = await waitFor(() => creator.events.find((e) => e.event === 'started'), 'the run\'s creator')
      const runId = started.runId as string
      const creatorAddr = `/ip4/${ip('creator')}/tcp/4711/p2p/${started.peerId as string}`
      const homes = ['home-1', 'home-2'].map((host) => run(host, ['start', '--run', runId, '--bootstrap', bootAddr,
        '--bootstrap', creatorAddr, '--listen', `/ip4/${ip(host)}/tcp/4712`, '--data-dir', join(root, host),
        ...node]))

      const reachability = (p: HostCli): Record<string, unknown> | undefined =>
        p.events.find((e) => e.event === 'reachability')
      expect(await waitFor(() => reachability(creator), 'the creator\'s reachability line')).toMatchObject({
        status: 'reachable', line: `reachable at /ip4/${ip('creator')}/tcp/4711`
      })
      for (const [i, home] of homes.entries()) {
        const line = await waitFor(() => reachability(home), `home-${i + 1}'s reachability line`)
        const router = net.host(`nat-${i + 1}`).ip
        expect(line.status).toBe('nat')
        expect(line.line).toBe(`behind NAT (seen as ${router}), using relay ${bootAddr}/p2p-circuit/p2p/` +
          `${(home.events.find((e) => e.event === 'started')?.peerId as string)}; ` +
          'forward TCP port 4712 to be reachable directly')
      }

      const finals = (p: HostCli): string[] =>
        p.events.filter((e) => e.event === 'checkpoint' && e.final === true).map((e) => e.task as string)
      await waitFor(() => TASKS.every((t) => [creator, ...homes].some((p) => finals(p).includes(t))),
        'a final of every task', { intervalMs: 500 })
      for (const home of homes) expect(finals(home).length).toBeGreaterThanOrEqual(1)

      // Verified and named on a public host, from the creator's mirror and the NATed trainers.
      const ensembleDir = join(root, 'ensemble')
      // A NATed trainer's final reaches an assembler started later only through the creator's
      // mirror (the assembler cannot dial behind the NATs, and bitswap does not run on relayed
      // connections), which lags the announcement by one fetch: one run measured a refusal for
      // that reason. So up to 3 tries, each a full verification.
      let assembled: HostCli | undefined
      for (let attempt = 1; attempt <= 3; attempt++) {
        assembled = run('creator', ['ensemble', '--run', runId, '--bootstrap', creatorAddr, '--bootstrap', bootAddr,
          '--listen', `/ip4/${ip('creator')}/tcp/4713`, '--scope', 'private', '--data-dir', ensembleDir,
          '--wait', '2000', '--json', '--log-format', 'json'], `ensemble@creator#${attempt}`)
        if (await assembled.exited === 0) break
      }
      expect(await assembled!.exited, assembled!.stdout() + assembled!.stderr()).toBe(0)
      const report = JSON.parse(assembled!.stdout()) as { ensemble: string, verdicts: Array<{ accepted: boolean }> }
      expect(report.verdicts.filter((v) => v.accepted).length).toBeGreaterThanOrEqual(TASKS.length)

      // A node holding the ensemble serves it; a peer behind NAT-2 asks it for a sample.
      const server = run('creator', ['start', '--run', runId, '--tasks', '0', '--bootstrap', creatorAddr,
        '--listen', `/ip4/${ip('creator')}/tcp/4714`, '--data-dir', ensembleDir, ...node], 'server@creator')
      const served = await waitFor(() => server.events.find((e) => e.event === 'started'), 'the serving node')
      const sample = run('home-2', ['sample', '--ensemble', report.ensemble, '--prompt', 'seven', '-n', '1',
        '--steps', '2', '--peer', `/ip4/${ip('creator')}/tcp/4714/p2p/${served.peerId as string}`,
        '--scope', 'private', '--out', join(root, 'seven.png'), '--json'], 'sample@home-2')
      expect(await sample.exited, sample.stderr()).toBe(0)
      expect(JSON.parse(sample.stdout())).toMatchObject({ mode: 'remote', ensemble: report.ensemble })
    })
})
