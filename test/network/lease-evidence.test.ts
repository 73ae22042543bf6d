import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { addressRangeOf, ipRange } from '../../src/network/address-range.js'
import type { ClaimTableInit } from '../../src/network/claim-types.js'
import { ClaimTable } from '../../src/network/claims.js'
import { readManifestFile } from '../../src/node/run-creation.js'
import { DEFAULT_EVIDENCE_MS } from '../../src/protocol/limits.js'
import { leasePolicyOf, parseRunManifest } from '../../src/protocol/run-manifest.js'
import type { GossipMessage } from '../../src/protocol/messages.js'

const RUN = 'baguqeerajp2relzuivkmko66f25yzuvx4piwacwwghbyljoxztrdy54fiwna'
const T0 = 1_750_000_000_000
const LEASE = 5_000
const EVIDENCE = 20_000
const PENALTY = 60_000
const TASKS = ['expert-0', 'expert-1', 'router']

let counter = 0
const nonce = (): string => (++counter).toString(16).padStart(16, '0')
const claim = (peer: string, task: string, ts: number): GossipMessage =>
  ({ v: 1, type: 'claim', run: RUN, peer, ts, task, leaseUntil: ts + LEASE, nonce: nonce() })
const progress = (peer: string, task: string, ts: number): GossipMessage =>
  ({ v: 1, type: 'progress', run: RUN, peer, ts, task, step: 1, loss: 1, nonce: nonce() })
const release = (peer: string, task: string, ts: number): GossipMessage =>
  ({ v: 1, type: 'release', run: RUN, peer, ts, task })

function table (over: Partial<ClaimTableInit> = {}): ClaimTable {
  const tasks = TASKS.map((id) => ({ id }))
  const lease = { leaseMs: LEASE, evidenceMs: EVIDENCE, evidencePenaltyMs: PENALTY }
  return new ClaimTable({ tasks, maxTasksPerPeer: 3, ...lease, ...over })
}

/** A holder's beacon: a renewal and a re-claim every second from `from` to `to`, received 10 ms later. */
function beacon (t: ClaimTable, peer: string, task: string, from: number, to: number): void {
  for (let ts = from; ts < to; ts += 1000) {
    t.apply(progress(peer, task, ts), ts + 10)
    t.apply(claim(peer, task, ts), ts + 10)
  }
}

describe('lease evidence in the claim table', () => {
  it('stops counting a holder that renews without evidence, ignores its claims, and frees the task', () => {
    const t = table()
    t.apply(claim('S', 'expert-0', T0), T0 + 10)
    beacon(t, 'S', 'expert-0', T0 + 1000, T0 + EVIDENCE)
    expect(t.holderOf('expert-0', T0 + EVIDENCE - 1)).toBe('S')
    // A query about a later time does not settle the deadline: only this node's clock does.
    expect(t.holderOf('expert-0', T0 + EVIDENCE + 3000)).toBe('S')
    t.tick(T0 + EVIDENCE)
    expect(t.holderOf('expert-0', T0 + EVIDENCE)).toBeUndefined()
    expect(t.freeTasks(T0 + EVIDENCE)).toContain('expert-0')
    const penalty = { task: 'expert-0', peer: 'S', from: T0 + EVIDENCE, until: T0 + EVIDENCE + PENALTY }
    expect(t.penalties(T0 + EVIDENCE)).toEqual([penalty])
    expect(t.takeImposedPenalties()).toHaveLength(1)
    // The squatter keeps claiming through its penalty; an honest peer claims the freed task.
    beacon(t, 'S', 'expert-0', T0 + EVIDENCE, T0 + EVIDENCE + 5000)
    t.apply(claim('H', 'expert-0', T0 + EVIDENCE + 2000), T0 + EVIDENCE + 2010)
    expect(t.holderOf('expert-0', T0 + EVIDENCE + 5000)).toBe('H')
    expect(t.refusalOf('expert-0', 'S', T0 + EVIDENCE + 4999)).toBe('no-evidence')
    // The past is not rewritten: before its deadline the squatter held the task.
    expect(t.holders('expert-0', T0 + 5000)).toEqual(['S'])
  })

  it('keeps a holder whose evidence comes within each window, and only such evidence', () => {
    const t = table()
    t.apply(claim('H', 'expert-0', T0), T0 + 10)
    beacon(t, 'H', 'expert-0', T0 + 1000, T0 + 70_000)
    expect(t.recordEvidence('expert-0', 'H', { ts: T0 + 15_000, step: 100, score: 1 })).toBe('counted')
    expect(t.recordEvidence('expert-0', 'H', { ts: T0 + 34_000, step: 200, score: 0.9 })).toBe('counted')
    expect(t.evidenceDeadline('expert-0', 'H', T0 + 40_000)).toBe(T0 + 54_000)
    expect(t.holderOf('expert-0', T0 + 53_999)).toBe('H')
    // Stamped after the deadline: the chain had already ended.
    expect(t.holderOf('expert-0', T0 + 54_000)).toBeUndefined()
    expect(t.recordEvidence('expert-0', 'H', { ts: T0 + 56_000, step: 300, score: 0.8 })).toBe('late')
    expect(t.holderOf('expert-0', T0 + 60_000)).toBeUndefined()
    expect(t.evidenceOf('expert-0', 'H')).toMatchObject({ first: { step: 100 }, latest: { step: 300 } })
  })

  it('waits for the verdict on a checkpoint announced before the deadline', () => {
    const t = table()
    t.apply(claim('H', 'expert-0', T0), T0 + 10)
    beacon(t, 'H', 'expert-0', T0 + 1000, T0 + 40_000)
    t.markEvidencePending('expert-0', 'H', T0 + 19_000)
    expect(t.holderOf('expert-0', T0 + 25_000)).toBe('H')
    t.recordEvidence('expert-0', 'H', { ts: T0 + 19_000, step: 100, score: 1 })
    t.clearEvidencePending('expert-0', 'H', T0 + 19_000)
    expect(t.holderOf('expert-0', T0 + 38_999)).toBe('H')
    // A refused check ends the grace: the deadline has passed, so the penalty starts at it.
    t.markEvidencePending('expert-0', 'H', T0 + 38_000)
    expect(t.holderOf('expert-0', T0 + 39_500)).toBe('H')
    t.clearEvidencePending('expert-0', 'H', T0 + 38_000)
    expect(t.holderOf('expert-0', T0 + 39_600)).toBeUndefined()
    expect(t.penalties(T0 + 39_600)[0]?.from).toBe(T0 + 39_000)
  })

  it('does not let a release just before the deadline reset the clock', () => {
    const t = table()
    t.apply(claim('S', 'expert-0', T0), T0 + 10)
    beacon(t, 'S', 'expert-0', T0 + 1000, T0 + EVIDENCE - 1000)
    t.apply(release('S', 'expert-0', T0 + EVIDENCE - 500), T0 + EVIDENCE - 490)
    t.apply(claim('S', 'expert-0', T0 + EVIDENCE + 500), T0 + EVIDENCE + 510)
    expect(t.holderOf('expert-0', T0 + EVIDENCE + 1000)).toBeUndefined()
    expect(t.penalties(T0 + EVIDENCE + 1000).map((p) => p.peer)).toEqual(['S'])
  })

  it('closes quietly for a peer that left the task, which may claim it again later', () => {
    const t = table()
    t.apply(claim('L', 'expert-0', T0), T0 + 10)
    t.apply(release('L', 'expert-0', T0 + 1000), T0 + 1010)
    t.tick(T0 + EVIDENCE + 1)
    expect(t.penalties(T0 + EVIDENCE + 1)).toEqual([])
    const later = T0 + EVIDENCE + 30_000
    t.apply(claim('L', 'expert-0', later), later + 10)
    expect(t.holderOf('expert-0', later + 100)).toBe('L')
    expect(t.evidenceDeadline('expert-0', 'L', later + 100)).toBe(later + EVIDENCE)
  })

  it('silences the claims made before the penalty ended for good, even kept alive by renewals', () => {
    const t = table()
    t.apply(claim('S', 'expert-0', T0), T0 + 10)
    // Renewals only, for ten minutes: the first claim stays live throughout.
    for (let ts = T0 + 1000; ts < T0 + 600_000; ts += 1000) t.apply(progress('S', 'expert-0', ts), ts + 10)
    expect(t.holderOf('expert-0', T0 + 599_000)).toBeUndefined()
    // A claim after the penalty opens a new chain, which needs evidence in turn.
    t.apply(claim('S', 'expert-0', T0 + 599_000), T0 + 599_010)
    expect(t.holderOf('expert-0', T0 + 599_500)).toBe('S')
  })

  it('lets this node\'s own claims always count', () => {
    const t = table({ self: 'ME' })
    t.apply(claim('ME', 'expert-0', T0), T0 + 10)
    beacon(t, 'ME', 'expert-0', T0 + 1000, T0 + 3 * EVIDENCE)
    expect(t.holderOf('expert-0', T0 + 3 * EVIDENCE)).toBe('ME')
    expect(t.penalties(T0 + 3 * EVIDENCE)).toEqual([])
  })

  it('gives the same holders whatever order claims and renewals arrive in', () => {
    const msgs: GossipMessage[] = [claim('S', 'expert-0', T0), claim('H', 'expert-1', T0 + 500)]
    for (let ts = T0 + 1000; ts < T0 + 30_000; ts += 1000) {
      msgs.push(progress('S', 'expert-0', ts), claim('S', 'expert-0', ts), progress('H', 'expert-1', ts))
    }
    const reversed = [...msgs].reverse()
    const views = [msgs, reversed].map((order) => {
      const t = table()
      for (const m of order) t.apply(m, T0 + 30_000)
      t.recordEvidence('expert-1', 'H', { ts: T0 + 12_000, step: 4, score: 1 })
      return [25_000, 31_000, 40_000].map((dt) => {
        t.tick(T0 + dt)
        return TASKS.map((task) => t.holders(task, T0 + dt))
      })
    })
    expect(views[1]).toEqual(views[0])
    expect(views[0].slice(1)).toEqual([[[], ['H'], []], [[], [], []]])
  })
})

describe('per-address-range cap', () => {
  const ranges: Record<string, string> = { A: '10.0.0.0/24', B: '10.0.0.0/24', C: '10.0.1.0/24' }

  it('refuses a claim whose range already holds the cap, leaves other ranges and unknown peers alone', () => {
    const t = table({ evidenceMs: undefined, maxTasksPerAddressRange: 1, rangeOf: (peer) => ranges[peer] })
    t.apply(claim('A', 'expert-0', T0), T0 + 10)
    t.apply(claim('B', 'expert-1', T0 + 100), T0 + 110)
    t.apply(claim('C', 'router', T0 + 200), T0 + 210)
    expect(t.holders('expert-1', T0 + 300)).toEqual([])
    expect(t.refusalOf('expert-1', 'B', T0 + 300)).toBe('range-full')
    expect(t.holderOf('router', T0 + 300)).toBe('C')
    // A's claim ends: B's claim counts at once.
    t.apply(release('A', 'expert-0', T0 + 400), T0 + 410)
    expect(t.holderOf('expert-1', T0 + 500)).toBe('B')
    // A peer whose address is unknown is not capped.
    t.apply(claim('U', 'expert-0', T0 + 600), T0 + 610)
    expect(t.holderOf('expert-0', T0 + 700)).toBe('U')
  })

  it('names IPv4 /24 and IPv6 /48 ranges, and none for relayed or unspecified addresses', () => {
    expect(ipRange('192.0.2.77')).toBe('192.0.2.0/24')
    expect(ipRange('2001:db8:abcd:12::1')).toBe('2001:db8:abcd::/48')
    expect(ipRange('2001:db8::1')).toBe('2001:db8:0::/48')
    expect(ipRange('::ffff:198.51.100.9')).toBe('198.51.100.0/24')
    expect(ipRange('0.0.0.0')).toBeUndefined()
    expect(ipRange('::')).toBeUndefined()
    expect(addressRangeOf(multiaddr('/ip4/127.0.0.1/tcp/4001'))).toBe('127.0.0.0/24')
    expect(addressRangeOf(multiaddr('/ip6/2001:db8:abcd:12::1/tcp/4001'))).toBe('2001:db8:abcd::/48')
    const relay = '/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWGRUVh6pjHMqDNpV6N9vUzMqGMaeU2JxJt7Y3mx9tAbTx'
    expect(addressRangeOf(multiaddr(`${relay}/p2p-circuit`))).toBeUndefined()
    expect(addressRangeOf(multiaddr('/dns4/example.org/tcp/4001'))).toBeUndefined()
  })
})

describe('lease fields of the run manifest', () => {
  it('are absent from a manifest that does not set them (its run id stays), and default in leasePolicyOf', async () => {
    const { manifest } = await readManifestFile('manifests/default.json')
    expect(Object.keys(manifest).filter((k) => k.startsWith('evidence') || k.includes('Range'))).toEqual([])
    const evidenceMs = DEFAULT_EVIDENCE_MS
    const policy = leasePolicyOf(manifest)
    expect(policy).toEqual({ evidenceMs, evidencePenaltyMs: evidenceMs, maxTasksPerAddressRange: undefined })
    const set = parseRunManifest({ ...manifest, evidenceMs: 60_000, maxTasksPerAddressRange: 2 })
    expect(leasePolicyOf(set)).toEqual({ evidenceMs: 60_000, evidencePenaltyMs: 60_000, maxTasksPerAddressRange: 2 })
    const invalid = expect.objectContaining({ name: 'InvalidManifestError' })
    expect(() => parseRunManifest({ ...manifest, evidenceMs: 1000 })).toThrow(invalid)
    expect(() => parseRunManifest({ ...manifest, maxTasksPerAddressRange: 0 })).toThrow(invalid)
  })
})
