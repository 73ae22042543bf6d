/**
 * hddm between hosts, for the first time: `hddm-node` processes in different network namespaces
 * of a test internet (internet.ts), talking libp2p over real routed links and through a NAT.
 * A bootstrap peer and the run's creator sit on public hosts; a node on a private host behind a
 * NAT router dials both, fetches the run's manifest from the creator over bitswap and hears the
 * run's gossip (`hddm-node status`), while the creator's kernel shows that connection coming
 * from the router's public address. The nodes use `--scope private`: `loopback` would refuse
 * 10.x and 192.168.x, and `any` strips private addresses from what the DHT passes on.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tinyRun, writeManifest } from '../node/fixtures.js'
import { describeProcesses } from '../simulation/processes.js'
import { waitForWith } from '../utils/wait.js'
import { NetnsRun, type HostCli } from './cli.js'
import { requireNetns } from './names.js'

await requireNetns()

describe(`hddm-node across hosts of a test internet`, () => {
  let t: NetnsRun
  const waitFor = waitForWith({ timeoutMs: 120_000, explain: () => describeProcesses(t?.processes ?? []) })

  beforeAll(async () => {
    t = await NetnsRun.create({ public: ['boot', 'creator'], nats: [{ name: 'nat-1', hosts: ['home'] }] }, 'netns')
  }, 60_000)
  afterAll(async () => { await t?.stop() })

  it('a node behind a NAT joins a run through a bootstrap peer and the run\'s creator on public hosts',
    { timeout: 300_000 }, async () => {
      const { net, root } = t
      const ip = (host: string): string => t.ip(host)
      const run = (host: string, args: string[]): HostCli => t.run(host, args)
      // The bootstrap peer's address is known before it runs, so it and the creator start side by side.
      const { boot, addr: bootAddr } = await t.startBootstrap('boot', 4710)
      const manifest = await writeManifest(await tinyRun({ name: 'netns-first-run', images: 200 }))
      const creator = run('creator', ['start', '--manifest', manifest, '--tasks', '0', '--bootstrap', bootAddr,
        '--listen', `/ip4/${ip('creator')}/tcp/4711`, '--scope', 'private', '--data-dir', join(root, 'creator'),
        '--log-format', 'json'])
      const listening = await waitFor(() => boot.events.find((e) => Array.isArray(e.multiaddrs)), 'the bootstrap peer')
      expect(listening.multiaddrs).toEqual([bootAddr])
      const started = await waitFor(() => creator.events.find((e) => e.event === 'started'), 'the run\'s creator')
      const runId = started.runId as string
      const creatorAddr = (started.multiaddrs as string[]).find((a) => a.startsWith(`/ip4/${ip('creator')}/`))!
      expect(creatorAddr).toBeDefined()

      const status = run('home', ['status', '--run', runId, '--bootstrap', bootAddr, '--bootstrap', creatorAddr,
        '--scope', 'private', '--wait', '2000'])
      // While it listens, the public hosts see its connections arrive from the router, not from 192.168.x.
      const router = net.host('nat-1').ip
      const fromRouter = async (host: string, port: number): Promise<boolean> => {
        const { stdout } = await net.exec(host, 'ss', ['-tnH', 'state', 'established'])
        return stdout.split('\n').some((l) => l.includes(` ${ip(host)}:${port} `) && l.includes(` ${router}:`))
      }
      const seen = new Set<string>()
      await waitFor(async () => {
        for (const [host, port] of [['boot', 4710], ['creator', 4711]] as const) {
          if (await fromRouter(host, port)) seen.add(host)
        }
        return seen.size === 2 || status.child.exitCode !== null
      }, 'the private node\'s connections to both public peers, through its NAT', { intervalMs: 250 })
      expect([...seen].sort()).toEqual(['boot', 'creator'])

      expect(await status.exited).toBe(0)
      const header = new RegExp(`^run ${runId}: 0/5 tasks announced final, (\\d+) peers in the run$`, 'm')
      const [, peers] = header.exec(status.stdout()) ?? []
      expect(peers, status.stdout() + status.stderr()).toBeDefined()
      expect(Number(peers)).toBeGreaterThanOrEqual(1)
      for (const task of ['expert-0', 'expert-3', 'router']) expect(status.stdout()).toContain(task)
    })
})
