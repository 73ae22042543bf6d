import * as dagJson from '@ipld/dag-json'
import { beforeAll, describe, expect, it } from 'vitest'
import { encodeGossipMessage } from '../../src/protocol/codec.js'
import { MAX_CLOCK_SKEW_MS, MAX_GOSSIP_MESSAGE_BYTES, MAX_MESSAGE_AGE_MS } from '../../src/protocol/limits.js'
import { newNonce, type GossipMessage } from '../../src/protocol/messages.js'
import { createGossipValidator, validateGossipMessage, type GossipValidator } from '../../src/protocol/validate.js'
import { dagJsonCidFor, fileCidFor, newPeerId, runCidFor, T0, TASKS } from './fixtures.js'

const LEASE_MS = 60_000
let run: string
let otherRun: string
let alice: string
let mallory: string
let checkpointCid: string
let now: number
let validate: GossipValidator

beforeAll(async () => {
  run = (await runCidFor('validate')).toString()
  otherRun = (await runCidFor('another run')).toString()
  alice = await newPeerId()
  mallory = await newPeerId()
  checkpointCid = (await fileCidFor('ckpt')).toString()
})

function fresh (): void {
  now = T0
  validate = createGossipValidator({ run, manifest: { tasks: TASKS, leaseMs: LEASE_MS }, clock: () => now })
}

function claim (over: Partial<GossipMessage> = {}): GossipMessage {
  return {
    v: 1, type: 'claim', run, peer: alice, ts: T0,
    task: 'expert-0', leaseUntil: T0 + LEASE_MS, nonce: newNonce(), ...over
  } as GossipMessage
}
const progress = (over: Partial<GossipMessage> = {}): GossipMessage => ({
  v: 1, type: 'progress', run, peer: alice, ts: T0,
  task: 'expert-0', step: 10, loss: 0.5, nonce: newNonce(), ...over
}) as GossipMessage
const checkpoint = (over: Partial<GossipMessage> = {}): GossipMessage => ({
  v: 1, type: 'checkpoint', run, peer: alice, ts: T0,
  task: 'expert-0', cid: checkpointCid, step: 100, final: false, heldOutLoss: 0.4, ...over
}) as GossipMessage
const release = (over: Partial<GossipMessage> = {}): GossipMessage =>
  ({ v: 1, type: 'release', run, peer: alice, ts: T0, task: 'expert-0', ...over }) as GossipMessage

const ALL = { claim, progress, checkpoint, release }

function expectOutcome (bytes: Uint8Array, from: string, action: string, code?: string): void {
  const result = validate(bytes, from)
  expect({ action: result.action, code: 'code' in result ? result.code : undefined }).toEqual({ action, code })
}

describe('gossip validator', () => {
  beforeAll(fresh)

  for (const [type, make] of Object.entries(ALL)) {
    describe(`${type} messages`, () => {
      it('accepts a good one and hands back the decoded message', () => {
        fresh()
        const msg = make()
        const result = validate(encodeGossipMessage(msg), alice)
        expect(result).toEqual({ action: 'accept', message: msg })
      })

      it('rejects one whose peer did not sign it (forged)', () => {
        fresh()
        expectOutcome(encodeGossipMessage(make()), mallory, 'reject', 'forged')
      })

      it('rejects one for another run', () => {
        fresh()
        expectOutcome(encodeGossipMessage(make({ run: otherRun })), alice, 'reject', 'wrong-run')
      })

      it('rejects one for a task the manifest does not have', () => {
        fresh()
        expectOutcome(encodeGossipMessage(make({ task: 'expert-99' })), alice, 'reject', 'unknown-task')
      })

      it('ignores one stamped beyond the clock skew in the future', () => {
        fresh()
        const ts = T0 + MAX_CLOCK_SKEW_MS + 1
        const future = make({ ts, ...(type === 'claim' ? { leaseUntil: ts + 1000 } : {}) })
        expectOutcome(encodeGossipMessage(future), alice, 'ignore', 'future')
      })

      it('ignores one older than the message age bound', () => {
        fresh()
        const ts = T0 - MAX_MESSAGE_AGE_MS - 1
        const stale = make({ ts, ...(type === 'claim' ? { leaseUntil: ts + LEASE_MS } : {}) })
        expectOutcome(encodeGossipMessage(stale), alice, 'ignore', 'stale')
      })

      it('ignores a replay of an accepted message', () => {
        fresh()
        const bytes = encodeGossipMessage(make())
        expectOutcome(bytes, alice, 'accept')
        expectOutcome(bytes, alice, 'ignore', 'duplicate')
      })

      it('penalises a forged message even when it is also stale', () => {
        fresh()
        const ts = T0 - MAX_MESSAGE_AGE_MS - 1
        const stale = make({ ts, ...(type === 'claim' ? { leaseUntil: ts + LEASE_MS } : {}) })
        expectOutcome(encodeGossipMessage(stale), mallory, 'reject', 'forged')
      })
    })
  }

  it('rejects oversized, malformed, garbage and non-canonical bytes', () => {
    fresh()
    expectOutcome(new Uint8Array(MAX_GOSSIP_MESSAGE_BYTES + 1).fill(0x20), alice, 'reject', 'too-large')
    expectOutcome(new TextEncoder().encode('{"type":"claim"'), alice, 'reject', 'malformed')
    expectOutcome(crypto.getRandomValues(new Uint8Array(512)), alice, 'reject', 'malformed')
    expectOutcome(new TextEncoder().encode(JSON.stringify(claim(), null, 2)), alice, 'reject', 'non-canonical')
  })

  it('rejects impossible values: negative step, NaN-like loss, a CID that is not a CID', () => {
    fresh()
    expectOutcome(dagJson.encode(progress({ step: -1 } as Partial<GossipMessage>)), alice, 'reject', 'schema')
    expectOutcome(dagJson.encode(progress({ step: 1.5 } as Partial<GossipMessage>)), alice, 'reject', 'schema')
    expectOutcome(dagJson.encode({ ...progress(), loss: 'NaN' }), alice, 'reject', 'schema')
    const nanLoss = new TextDecoder().decode(encodeGossipMessage(progress())).replace(/"loss":[^,]+/, '"loss":NaN')
    expectOutcome(new TextEncoder().encode(nanLoss), alice, 'reject', 'malformed')
    expectOutcome(dagJson.encode({ ...checkpoint(), cid: 'QmNotACid' }), alice, 'reject', 'schema')
    expectOutcome(dagJson.encode({ ...claim(), type: 'takeover' }), alice, 'reject', 'schema')
  })

  it('rejects a checkpoint whose CID is not a UnixFS file', async () => {
    fresh()
    const notAFile = (await dagJsonCidFor('manifest')).toString()
    const msg = checkpoint({ cid: notAFile } as Partial<GossipMessage>)
    expectOutcome(encodeGossipMessage(msg), alice, 'reject', 'bad-cid')
  })

  it('rejects a claim whose lease ends before it starts or outlasts the run lease', () => {
    fresh()
    const endsAtStart = claim({ leaseUntil: T0 } as Partial<GossipMessage>)
    expectOutcome(encodeGossipMessage(endsAtStart), alice, 'reject', 'bad-lease')
    const outlastsRunLease = claim({ leaseUntil: T0 + LEASE_MS + 1 } as Partial<GossipMessage>)
    expectOutcome(encodeGossipMessage(outlastsRunLease), alice, 'reject', 'bad-lease')
  })

  it('ignores a claim whose lease has already expired', () => {
    fresh()
    now = T0 + 20_000
    const expired = claim({ leaseUntil: T0 + 10_000 } as Partial<GossipMessage>)
    expectOutcome(encodeGossipMessage(expired), alice, 'ignore', 'lease-expired')
  })

  it('treats a reused nonce as a duplicate across claim and progress', () => {
    fresh()
    const nonce = newNonce()
    const claimed = claim({ nonce } as Partial<GossipMessage>)
    expectOutcome(encodeGossipMessage(claimed), alice, 'accept')
    const reused = progress({ nonce, ts: T0 + 1 } as Partial<GossipMessage>)
    expectOutcome(encodeGossipMessage(reused), alice, 'ignore', 'duplicate')
  })

  it('does not remember rejected messages as seen', () => {
    fresh()
    const msg = claim()
    expectOutcome(encodeGossipMessage(msg), mallory, 'reject', 'forged')
    expectOutcome(encodeGossipMessage(msg), alice, 'accept')
  })

  it('validates without a duplicate filter when none is given', () => {
    const bytes = encodeGossipMessage(claim())
    const ctx = { run, from: alice, now: T0, tasks: new Set(TASKS.map((t) => t.id)), leaseMs: LEASE_MS }
    expect(validateGossipMessage(bytes, ctx).action).toBe('accept')
    expect(validateGossipMessage(bytes, ctx).action).toBe('accept')
  })
})
