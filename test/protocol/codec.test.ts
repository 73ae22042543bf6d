import * as dagJson from '@ipld/dag-json'
import { beforeAll, describe, expect, it } from 'vitest'
import { decodeGossipMessage, encodeGossipMessage } from '../../src/protocol/codec.js'
import { MAX_GOSSIP_MESSAGE_BYTES } from '../../src/protocol/limits.js'
import { newNonce, type GossipMessage } from '../../src/protocol/messages.js'
import { parseRunTopic, runTopic, SAMPLE_PROTOCOL } from '../../src/protocol/topics.js'
import { fileCidFor, newPeerId, runCidFor, T0 } from './fixtures.js'

let run: string
let peer: string
let messages: GossipMessage[]

beforeAll(async () => {
  run = (await runCidFor('codec')).toString()
  peer = await newPeerId()
  const cid = (await fileCidFor('ckpt')).toString()
  const base = { v: 1 as const, run, peer, ts: T0 }
  messages = [
    { ...base, type: 'claim', task: 'expert-0', leaseUntil: T0 + 60_000, nonce: newNonce() },
    { ...base, type: 'progress', task: 'expert-0', step: 120, loss: 0.0625, nonce: newNonce() },
    { ...base, type: 'checkpoint', task: 'expert-0', cid, step: 400, final: true, heldOutLoss: 0.31 },
    { ...base, type: 'release', task: 'expert-0' }
  ]
})

function expectInvalid (fn: () => unknown, code: string): void {
  try {
    fn()
  } catch (err) {
    expect((err as Error).name).toBe('InvalidMessageError')
    expect((err as { code: string }).code).toBe(code)
    return
  }
  throw new Error('expected InvalidMessageError')
}

describe('gossip codec', () => {
  it('round-trips every message type', () => {
    for (const msg of messages) {
      expect(decodeGossipMessage(encodeGossipMessage(msg))).toEqual(msg)
    }
  })

  it('gives the same bytes whatever the key order of the input', () => {
    for (const msg of messages) {
      const shuffled = Object.fromEntries(Object.entries(msg).reverse()) as GossipMessage
      expect(encodeGossipMessage(shuffled)).toEqual(encodeGossipMessage(msg))
    }
  })

  it('writes sorted keys and no whitespace', () => {
    const text = new TextDecoder().decode(encodeGossipMessage(messages[3]))
    expect(text).toBe(`{"peer":"${peer}","run":"${run}","task":"expert-0","ts":${T0},"type":"release","v":1}`)
  })

  it('keeps the largest legitimate message well under the cap', () => {
    const sizes = messages.map((m) => encodeGossipMessage(m).byteLength)
    expect(Math.max(...sizes)).toBeLessThan(MAX_GOSSIP_MESSAGE_BYTES / 2)
  })

  it('refuses to encode an impossible message', () => {
    expectInvalid(() => encodeGossipMessage({ ...messages[1], loss: Number.NaN } as GossipMessage), 'schema')
    expectInvalid(() => encodeGossipMessage({ ...messages[1], step: -1 } as GossipMessage), 'schema')
  })

  it('fits any message with maximal fields under the cap, so only forged bytes can exceed it', () => {
    const widest = {
      ...messages[1],
      peer: 'P'.repeat(128), task: 'x'.repeat(64), nonce: 'f'.repeat(64),
      step: Number.MAX_SAFE_INTEGER, ts: Number.MAX_SAFE_INTEGER, loss: 1.2345678901234567e-300
    } as GossipMessage
    expect(encodeGossipMessage(widest).byteLength).toBeLessThan(MAX_GOSSIP_MESSAGE_BYTES)
  })

  it('rejects oversized, malformed, non-canonical and off-schema bytes with typed codes', () => {
    expectInvalid(() => decodeGossipMessage(new Uint8Array(MAX_GOSSIP_MESSAGE_BYTES + 1)), 'too-large')
    expectInvalid(() => decodeGossipMessage(new TextEncoder().encode('{"v":1,')), 'malformed')
    expectInvalid(() => decodeGossipMessage(crypto.getRandomValues(new Uint8Array(300))), 'malformed')
    const spaced = new TextEncoder().encode(JSON.stringify(messages[3], null, 1))
    expectInvalid(() => decodeGossipMessage(spaced), 'non-canonical')
    expectInvalid(() => decodeGossipMessage(dagJson.encode({ ...messages[3], extra: 1 })), 'schema')
    expectInvalid(() => decodeGossipMessage(dagJson.encode({ ...messages[3], v: 2 })), 'schema')
    expectInvalid(() => decodeGossipMessage(dagJson.encode({ ...messages[2], cid: 'not-a-cid' })), 'schema')
  })
})

describe('topics', () => {
  it('names one topic per run and parses it back', () => {
    expect(runTopic(run)).toBe(`/hddm/1/run/${run}`)
    expect(parseRunTopic(runTopic(run))).toBe(run)
    expect(parseRunTopic('/hddm/1/run/nope')).toBeUndefined()
    expect(SAMPLE_PROTOCOL).toBe('/hddm/sample/1.0.0')
  })

  it('throws a typed error for a run that is not a CID', () => {
    expect(() => runTopic('nope')).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }))
  })
})
