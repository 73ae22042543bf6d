import { describe, expect, it } from 'vitest'
import type { ClaimTableInit } from '../../src/network/claim-types.js'
import { pickTask, rankTasks } from '../../src/network/rendezvous.js'
import { ClaimTable } from '../../src/network/claims.js'
import type { GossipMessage } from '../../src/protocol/messages.js'

const RUN = 'baguqeerajp2relzuivkmko66f25yzuvx4piwacwwghbyljoxztrdy54fiwna'
const CKPT = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const T0 = 1_750_000_000_000
const LEASE = 10_000
const TASK_IDS = ['expert-0', 'expert-1', 'expert-2', 'expert-3', 'router']

let nonceCounter = 0
const nonce = (): string => (++nonceCounter).toString(16).padStart(16, '0')
const claim = (peer: string, task: string, ts: number, lease = LEASE): GossipMessage =>
  ({ v: 1, type: 'claim', run: RUN, peer, ts, task, leaseUntil: ts + lease, nonce: nonce() })
const progress = (peer: string, task: string, ts: number, step = 1, loss = 1): GossipMessage =>
  ({ v: 1, type: 'progress', run: RUN, peer, ts, task, step, loss, nonce: nonce() })
const release = (peer: string, task: string, ts: number): GossipMessage =>
  ({ v: 1, type: 'release', run: RUN, peer, ts, task })
const checkpoint = (peer: string, task: string, ts: number, step: number, cid = CKPT): GossipMessage =>
  ({ v: 1, type: 'checkpoint', run: RUN, peer, ts, task, cid, step, final: false, heldOutLoss: 0.5 })

function table (over: Partial<ClaimTableInit> = {}): ClaimTable {
  return new ClaimTable({ tasks: TASK_IDS.map((id) => ({ id })), leaseMs: LEASE, ...over })
}

/** Applies each message as received 10 ms after it was sent. */
function applyAll (t: ClaimTable, msgs: GossipMessage[]): void {
  for (const m of msgs) t.apply(m, m.ts + 10)
}

/** mulberry32: a small seeded PRNG, so the property test is reproducible. */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function shuffle<T> (items: T[], rand: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

/** Random traffic of a small swarm over 50 s: claims, renewals, releases, checkpoints. */
function randomTraffic (rand: () => number, peers: string[]): Array<{ msg: GossipMessage, receivedAt: number }> {
  const out: Array<{ msg: GossipMessage, receivedAt: number }> = []
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]
  for (let i = 0; i < 120; i++) {
    // Coarse timestamps make ties on ts common, so the peer-id tie-break is exercised.
    const ts = T0 + Math.floor(rand() * 50) * 1000
    const peer = pick(peers)
    const task = pick(TASK_IDS)
    const r = rand()
    const msg = r < 0.4
      ? claim(peer, task, ts, 1000 + Math.floor(rand() * (LEASE - 1000)))
      : r < 0.8 ? progress(peer, task, ts, Math.floor(rand() * 100), rand())
        : r < 0.9 ? release(peer, task, ts) : checkpoint(peer, task, ts, Math.floor(rand() * 10))
    out.push({ msg, receivedAt: ts + Math.floor(rand() * 5000) })
  }
  return out
}

function observe (t: ClaimTable): unknown[] {
  const views: unknown[] = []
  for (let now = T0 - 1000; now <= T0 + 65_000; now += 1000) views.push(t.snapshot(now))
  return views
}

describe('ClaimTable', () => {
  it('agrees on every task holder whatever order the same messages arrive in', () => {
    const peers = ['12D3KooWAlice', '12D3KooWBob', '12D3KooWCarol', '12D3KooWDave', 'QmEve']
    for (let seed = 1; seed <= 12; seed++) {
      const rand = prng(seed)
      const init = { replicas: 1 + Math.floor(rand() * 2), maxTasksPerPeer: 1 + Math.floor(rand() * 2) }
      const traffic = randomTraffic(rand, peers)
      const reference = table(init)
      for (const { msg, receivedAt } of traffic) reference.apply(msg, receivedAt)
      const expected = observe(reference)
      // Holders change over the window in most seeds, so the comparison is not vacuous.
      expect(new Set(expected.map((v) => JSON.stringify(v))).size).toBeGreaterThan(1)
      for (let p = 0; p < 8; p++) {
        const t = table(init)
        // A permutation, with some messages delivered twice (gossip may duplicate).
        const delivery = shuffle([...traffic, ...traffic.filter(() => rand() < 0.1)], rand)
        for (const { msg, receivedAt } of delivery) t.apply(msg, receivedAt)
        expect(observe(t)).toEqual(expected)
      }
    }
  })

  it('gives a task to the earliest claim, breaking ts ties by peer id', () => {
    const t = table()
    applyAll(t, [
      claim('peer-b', 'expert-0', T0 + 5), claim('peer-c', 'expert-0', T0),
      claim('peer-a', 'expert-1', T0), claim('peer-b', 'expert-1', T0)
    ])
    expect(t.holders('expert-0', T0 + 100)).toEqual(['peer-c'])
    expect(t.holderOf('expert-1', T0 + 100)).toBe('peer-a')
    expect(t.isHeldBy('expert-1', 'peer-b', T0 + 100)).toBe(false)
  })

  it('frees a task when its lease expires without progress', () => {
    const t = table()
    applyAll(t, [claim('peer-a', 'expert-0', T0)])
    expect(t.holderOf('expert-0', T0 + LEASE - 1)).toBe('peer-a')
    expect(t.holderOf('expert-0', T0 + LEASE)).toBeUndefined()
    expect(t.freeTasks(T0 + LEASE)).toContain('expert-0')
  })

  it('renews the lease with progress sent before it ends, and not after', () => {
    const t = table()
    applyAll(t, [
      claim('peer-a', 'expert-0', T0),
      progress('peer-a', 'expert-0', T0 + 8000), progress('peer-a', 'expert-0', T0 + 16_000)
    ])
    expect(t.holderOf('expert-0', T0 + 25_999)).toBe('peer-a')
    expect(t.holderOf('expert-0', T0 + 26_000)).toBeUndefined()
    // A silent gap lets the lease lapse; progress after it does not bring the claim back.
    applyAll(t, [progress('peer-a', 'expert-0', T0 + 30_000)])
    expect(t.holderOf('expert-0', T0 + 31_000)).toBeUndefined()
  })

  it('keeps a lapsed holder out once another peer has re-claimed the task', () => {
    const t = table()
    applyAll(t, [
      claim('peer-a', 'expert-0', T0),
      claim('peer-b', 'expert-0', T0 + LEASE + 1000),
      progress('peer-a', 'expert-0', T0 + LEASE + 2000)
    ])
    expect(t.holderOf('expert-0', T0 + LEASE + 3000)).toBe('peer-b')
  })

  it('frees a task at once on release, and lets the releasing peer claim again later', () => {
    const t = table()
    applyAll(t, [
      claim('peer-a', 'expert-0', T0), claim('peer-b', 'expert-0', T0 + 100),
      release('peer-a', 'expert-0', T0 + 2000)
    ])
    expect(t.holderOf('expert-0', T0 + 1999)).toBe('peer-a')
    expect(t.holderOf('expert-0', T0 + 2000)).toBe('peer-b')
    applyAll(t, [release('peer-b', 'expert-0', T0 + 3000), claim('peer-a', 'expert-0', T0 + 4000)])
    expect(t.holderOf('expert-0', T0 + 4500)).toBe('peer-a')
  })

  it('ignores claims outside the clock bounds, duplicates, unknown tasks and overlong leases', () => {
    const t = table({ maxSkewMs: 30_000, maxAgeMs: 60_000 })
    const c = claim('peer-a', 'expert-0', T0)
    expect(t.apply(claim('peer-a', 'expert-0', T0 + 30_001), T0)).toBe('future')
    expect(t.apply(claim('peer-a', 'expert-0', T0 - 60_001), T0)).toBe('stale')
    expect(t.apply(claim('peer-a', 'nope', T0), T0)).toBe('unknown-task')
    expect(t.apply(claim('peer-a', 'expert-0', T0, LEASE + 1), T0)).toBe('bad-lease')
    expect(t.apply(c, T0)).toBe('applied')
    expect(t.apply(c, T0 + 1)).toBe('duplicate')
    expect(t.holders('expert-0', T0 + 1)).toEqual(['peer-a'])
  })

  it('lets a peer hold at most maxTasksPerPeer tasks; its later claims do not count', () => {
    const one = table({ maxTasksPerPeer: 1 })
    const msgs = [
      claim('peer-a', 'expert-0', T0), claim('peer-a', 'expert-1', T0 + 10),
      claim('peer-b', 'expert-1', T0 + 20)
    ]
    applyAll(one, msgs)
    expect(one.tasksHeldBy('peer-a', T0 + 100)).toEqual(['expert-0'])
    expect(one.holderOf('expert-1', T0 + 100)).toBe('peer-b')
    const two = table({ maxTasksPerPeer: 2 })
    applyAll(two, msgs)
    expect(two.tasksHeldBy('peer-a', T0 + 100)).toEqual(['expert-0', 'expert-1'])
  })

  it('gives a task R = 2 holders, and the next claimant a place when one leaves', () => {
    const t = table({ replicas: 2 })
    applyAll(t, [
      claim('peer-c', 'expert-0', T0 + 30), claim('peer-a', 'expert-0', T0 + 10),
      claim('peer-b', 'expert-0', T0 + 20)
    ])
    expect(t.holders('expert-0', T0 + 100)).toEqual(['peer-a', 'peer-b'])
    expect(t.freeTasks(T0 + 100)).not.toContain('expert-0')
    applyAll(t, [release('peer-a', 'expert-0', T0 + 200)])
    expect(t.holders('expert-0', T0 + 300)).toEqual(['peer-b', 'peer-c'])
  })

  it('honours a per-task replicas override', () => {
    const t = new ClaimTable({
      tasks: [{ id: 'expert-0', replicas: 3 }, { id: 'router' }],
      replicas: 1, leaseMs: LEASE, maxTasksPerPeer: 1
    })
    applyAll(t, ['a', 'b', 'c', 'd'].map((p, i) => claim(`peer-${p}`, 'expert-0', T0 + i)))
    expect(t.holders('expert-0', T0 + 100)).toEqual(['peer-a', 'peer-b', 'peer-c'])
  })

  it('keeps a holder that renews for ten minutes, across history folding', () => {
    const t = table()
    const msgs = [claim('peer-a', 'expert-0', T0), claim('peer-b', 'expert-0', T0 + 1)]
    for (let s = 1; s <= 120; s++) msgs.push(progress('peer-a', 'expert-0', T0 + s * 5000, s, 1 / s))
    applyAll(t, msgs)
    expect(t.holderOf('expert-0', T0 + 600_000)).toBe('peer-a')
    const row = t.snapshot(T0 + 600_000).find((r) => r.task === 'expert-0')
    expect(row?.holders[0])
      .toMatchObject({ peer: 'peer-a', since: T0, step: 120, leaseUntil: T0 + 600_000 + LEASE })
    expect(t.holderOf('expert-0', T0 + 610_000)).toBeUndefined()
  })

  it('keeps a holder that re-claims on every beacon against claims back-dated as far as the table accepts, ' +
    'for ten minutes', () => {
    // The task loop's beacon: progress and a re-claim every 5 s. An attacker with a fresh
    // identity keeps claiming with ts as old as the freshness window lets through (just under
    // MAX_MESSAGE_AGE_MS before it is received), hoping to sort before the holder's claims.
    // Within the holder's first minute such a claim is older than its claim and wins (the
    // window is what honest clocks and gossip delays need); after that, never.
    const t = new ClaimTable({ tasks: TASK_IDS.map((id) => ({ id })), leaseMs: 60_000 })
    const holder = 'peer-h'
    t.apply(claim(holder, 'expert-0', T0, 60_000), T0 + 10)
    for (let s = 1; s <= 120; s++) {
      const now = T0 + s * 5000
      t.apply(progress(holder, 'expert-0', now, s), now + 10)
      t.apply(claim(holder, 'expert-0', now, 60_000), now + 10)
      if (s % 3 === 0 && s * 5000 > 60_000) {
        const attacker = `peer-x${s}`
        t.apply(claim(attacker, 'expert-0', now - 59_000, 60_000), now)
        expect(t.holderOf('expert-0', now + 1), `at ${s * 5} s`).toBe(holder)
      }
    }
    const row = t.snapshot(T0 + 600_000).find((r) => r.task === 'expert-0')
    expect(row?.holders[0]).toMatchObject({ peer: holder, since: T0 })
  })

  it('reports the most advanced checkpoint of each task', () => {
    const t = table()
    const other = 'bafkreib6lmdbqnmdzqcbujrpiw4qdo2koyuwhzlo4wocvd2ryrbyhe7y5i'
    applyAll(t, [
      checkpoint('peer-a', 'expert-0', T0, 200),
      checkpoint('peer-b', 'expert-0', T0 + 10, 300, other),
      checkpoint('peer-a', 'expert-0', T0 + 20, 100)
    ])
    expect(t.lastCheckpoint('expert-0')).toMatchObject({ peer: 'peer-b', step: 300, cid: other })
    expect(t.lastCheckpoint('expert-1')).toBeUndefined()
    expect(t.snapshot(T0).find((r) => r.task === 'expert-0')?.checkpoint?.step).toBe(300)
  })
})

describe('rendezvous task choice', () => {
  it('is deterministic and spreads peers that join at once over the free tasks', () => {
    const peers = Array.from({ length: 16 }, (_, i) => `12D3KooWpeer${i}`)
    const choices = peers.map((p) => pickTask(p, TASK_IDS))
    expect(peers.map((p) => pickTask(p, [...TASK_IDS].reverse()))).toEqual(choices)
    expect(new Set(choices).size).toBeGreaterThanOrEqual(3)
  })

  it("keeps a peer's choice when other tasks stop being free", () => {
    for (let i = 0; i < 16; i++) {
      const peer = `12D3KooWpeer${i}`
      const first = pickTask(peer, TASK_IDS) as string
      const fewer = TASK_IDS.filter((task) => task === first || task.charCodeAt(task.length - 1) % 2 === 0)
      expect(pickTask(peer, fewer)).toBe(first)
      expect(rankTasks(peer, TASK_IDS)[0]).toBe(first)
    }
  })

  it('returns undefined when nothing is free', () => {
    expect(pickTask('12D3KooWpeer0', [])).toBeUndefined()
  })
})
