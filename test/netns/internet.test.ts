/**
 * The test internet itself (internet.ts): who can reach whom, what NAT hides, that tbf slows a
 * link and the relay delays one, and that nothing is left behind. Measured with tcp-probe.ts
 * processes inside the hosts' namespaces. Skips, saying why, only where namespaces cannot be
 * made (not root, no `ip`).
 */
import { spawnSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInternet, type Internet } from './internet.js'
import { namespacesWith, requireNetns, newPrefix, sweepStaleNamespaces, TOOLS_ENV } from './names.js'
import { startProbe, type Probe } from './probe.js'

await requireNetns()
const SLOW_MBIT = 16
const DELAY_MS = 40

describe(`a test internet in network namespaces`, () => {
  let net: Internet
  const probes: Record<string, Probe> = {}
  const ip = (host: string): string => net.host(host).ip

  beforeAll(async () => {
    net = await createInternet({
      public: ['pub-1', 'pub-2', { name: 'slow', rateMbit: SLOW_MBIT }, { name: 'far', delayMs: DELAY_MS }],
      nats: [{ name: 'nat-1', hosts: ['home-1'] }, { name: 'nat-2', hosts: ['home-2'] }]
    })
    const names = ['pub-1', 'pub-2', 'slow', 'far', 'home-1', 'home-2']
    for (const [i, probe] of (await Promise.all(names.map(async (h) => await startProbe(net, h)))).entries()) {
      probes[names[i]] = probe
    }
  }, 120_000)
  afterAll(async () => { await net?.stop() })

  it('public hosts reach each other, each from its own address', async () => {
    const { port } = await probes['pub-1'].listen(ip('pub-1'))
    expect(await probes['pub-2'].connect(ip('pub-1'), port)).toEqual({ connected: true })
    expect(await probes['pub-1'].accepted()).toContain(ip('pub-2'))
  })

  it('a private host reaches a public host, which sees its router\'s address', async () => {
    const { port } = await probes['pub-2'].listen(ip('pub-2'))
    expect(await probes['home-1'].connect(ip('pub-2'), port)).toEqual({ connected: true })
    const seen = await probes['pub-2'].accepted()
    expect(seen).toEqual([net.host('nat-1').ip])
    expect(net.host('home-1').publicIp).toBe(net.host('nat-1').ip)
  })

  it('nothing outside opens a connection to a private host, until its router forwards the port', async () => {
    const { port } = await probes['home-1'].listen('0.0.0.0')
    const router = net.host('nat-1')
    // At the router's public address nothing listens: the router refuses.
    expect(await probes['pub-1'].connect(router.ip, port)).toEqual({ connected: false, reason: 'ECONNREFUSED' })
    // Even a host that routes the private LAN through the router is dropped by its filter.
    await net.exec('pub-1', 'ip', ['route', 'add', router.lan!, 'via', router.ip])
    try {
      const dropped = { connected: false, reason: 'ETIMEDOUT' }
      expect(await probes['pub-1'].connect(ip('home-1'), port, 2_000)).toEqual(dropped)
    } finally {
      await net.exec('pub-1', 'ip', ['route', 'del', router.lan!])
    }
    // Behind another NAT there is no route at all: the case relays and hole punching solve.
    expect((await probes['home-2'].connect(ip('home-1'), port, 2_000)).connected).toBe(false)
    expect(await probes['home-1'].accepted()).toEqual([])

    await net.forwardPort('nat-1', port, 'home-1')
    expect(await probes['pub-1'].connect(router.ip, port)).toEqual({ connected: true })
    expect(await probes['home-1'].accepted()).toEqual([ip('pub-1')])
  })

  it(`tbf holds a ${SLOW_MBIT} Mbit/s link to its rate, both ways, far below an unlimited one`, async () => {
    const toPub = await probes['pub-1'].listen(ip('pub-1'))
    const toSlow = await probes.slow.listen(ip('slow'))
    const fast = await probes['pub-2'].send(ip('pub-1'), toPub.port, 8 << 20)
    const up = await probes.slow.send(ip('pub-1'), toPub.port, 1 << 20)
    const down = await probes['pub-2'].send(ip('slow'), toSlow.port, 1 << 20)
    console.log(`unlimited ${fast.toFixed(0)} Mbit/s; ${SLOW_MBIT} Mbit/s link: up ${up.toFixed(1)}, ` +
      `down ${down.toFixed(1)} Mbit/s`)
    // tbf cannot let more through than its rate (the 16 KiB burst is 1.6% of a MiB)...
    expect(up).toBeLessThan(SLOW_MBIT * 1.1)
    expect(down).toBeLessThan(SLOW_MBIT * 1.1)
    // ...and that is the limit, not a slow machine: the same path without it is several times faster.
    expect(fast / up).toBeGreaterThan(4)
    expect(fast / down).toBeGreaterThan(4)
  })

  it(`the relay delays a host's packets by ${DELAY_MS} ms, and no one else's`, async () => {
    const { port } = await probes['pub-1'].listen(ip('pub-1'))
    const far = await probes.far.rtt(ip('pub-1'), port, 5)
    const near = await probes['pub-2'].rtt(ip('pub-1'), port, 5)
    console.log(`round trips to pub-1: from far ${far.map((ms) => ms.toFixed(1)).join(' ')} ms, ` +
      `from pub-2 ${near.map((ms) => ms.toFixed(1)).join(' ')} ms`)
    // The relay holds every packet at least the delay: a lower bound that load cannot break.
    expect(Math.min(...far)).toBeGreaterThanOrEqual(DELAY_MS)
    expect(Math.min(...near)).toBeLessThan(DELAY_MS)
  })

  it('stop() ends its processes and deletes every namespace it made', async () => {
    expect((await namespacesWith(net.prefix)).length).toBe(net.hosts.length + 1)
    await net.stop()
    expect(await namespacesWith(net.prefix)).toEqual([])
  })
})

describe(`leftovers of earlier runs`, () => {
  it('are swept when their test process is gone, while a live run\'s namespaces stay', async () => {
    // A pid that existed and has exited: the owner of a run that was killed before its afterAll.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString()
    const leftover = `${newPrefix(Number(dead))}pub-1`
    const live = `${newPrefix()}pub-1`
    for (const ns of [leftover, live]) spawnSync('ip', ['netns', 'add', ns], { env: TOOLS_ENV })
    try {
      expect(await namespacesWith(leftover)).toEqual([leftover])
      expect(await sweepStaleNamespaces()).toContain(leftover)
      expect(await namespacesWith(leftover)).toEqual([])
      expect(await namespacesWith(live)).toEqual([live])
    } finally {
      for (const ns of [leftover, live]) spawnSync('ip', ['netns', 'delete', ns], { env: TOOLS_ENV })
    }
  })
})
