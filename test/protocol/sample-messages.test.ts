import * as dagJson from '@ipld/dag-json'
import { describe, expect, it } from 'vitest'
import { SAMPLE_MAX_COUNT, SAMPLE_MAX_REQUEST_BYTES, SAMPLE_MAX_STEPS } from '../../src/protocol/limits.js'
import {
  decodeSampleFrame, decodeSampleRequest, encodeSampleFrame, encodeSampleRequest, type SampleRequestInput
} from '../../src/protocol/sample-messages.js'
import { runCidFor } from './fixtures.js'

const code = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (err) {
    expect((err as Error).name).toBe('InvalidMessageError')
    return (err as { code: string }).code
  }
  return undefined
}

describe('sample protocol frames', () => {
  it('round-trips a request and every response frame', async () => {
    const ensemble = (await runCidFor('ensemble')).toString()
    const request: SampleRequestInput = {
      v: 1, ensemble, prompts: ['seven', 'two'], count: 4, steps: 20, seed: 1, routing: 'top2'
    }
    expect(decodeSampleRequest(encodeSampleRequest(request))).toEqual({ ...request, guidance: 1 })
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47])
    for (const frame of [
      { type: 'progress', step: 3, steps: 20 },
      { type: 'image', index: 0, prompt: 'seven', png },
      { type: 'done', count: 4 },
      { type: 'error', code: 'busy', message: 'two requests already running' }
    ] as const) {
      expect(decodeSampleFrame(encodeSampleFrame(frame))).toEqual(frame)
    }
  })

  it('enforces count, steps, request size and schema with typed codes', async () => {
    const ensemble = (await runCidFor('ensemble')).toString()
    const ok = { v: 1 as const, ensemble, prompts: ['one'], count: 1, steps: 1, seed: 0 }
    expect(code(() => encodeSampleRequest({ ...ok, count: SAMPLE_MAX_COUNT + 1 }))).toBe('schema')
    expect(code(() => encodeSampleRequest({ ...ok, steps: SAMPLE_MAX_STEPS + 1 }))).toBe('schema')
    expect(code(() => decodeSampleRequest(new Uint8Array(SAMPLE_MAX_REQUEST_BYTES + 1)))).toBe('too-large')
    expect(code(() => decodeSampleRequest(new TextEncoder().encode('{')))).toBe('malformed')
    expect(code(() => decodeSampleRequest(dagJson.encode({ ...ok, ensemble: 'nope' })))).toBe('schema')
    expect(code(() => decodeSampleFrame(dagJson.encode({ type: 'error', code: 'teapot', message: '' })))).toBe('schema')
  })
})
