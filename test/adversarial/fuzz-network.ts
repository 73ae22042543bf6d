/**
 * Fuzz targets over real libp2p streams between real nodes on 127.0.0.1:
 *
 * - `sample-service`: fuzzed request frames (and framings: split writes, two frames, length
 *   prefixes that lie, no prefix, nothing, a reset) sent to a node serving /hddm/sample/1.0.0.
 *   Every stream must be answered with well-formed frames ending in `done` or a typed `error`,
 *   the one the request deserves; a reset client gets nothing and must not upset the server.
 * - `sample-client`: a hostile server answers `requestSamples` with fuzzed frames (and PNG
 *   bombs): the client resolves or throws a typed error, and the images it returns decode or
 *   are refused with InvalidPngError, as `hddm-node sample --peer` would decode them.
 * - `coverage-client`: a hostile peer answers /hddm/coverage/1.0.0 queries with fuzzed maps.
 */
import { crc32 } from 'node:zlib'
import * as dagJson from '@ipld/dag-json'
import { byteStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { decodePng, encodePng } from '../../src/data/png.js'
import { ensembleSampleHandler } from '../../src/ensemble/serve.js'
import { requestSamples } from '../../src/network/sample-client.js'
import { createSampleService, type SampleHandler, type SampleService } from '../../src/network/sample-service.js'
import { COVERAGE_PROTOCOL, queryCoverage } from '../../src/node/coverage-protocol.js'
import { HddmError } from '../../src/hddm-error.js'
import { DAG_JSON_CODE } from '../../src/protocol/canonical.js'
import {
  decodeSampleFrame, decodeSampleRequest, SAMPLE_ERROR_CODES, type SampleResponseFrame
} from '../../src/protocol/sample-messages.js'
import { SAMPLE_PROTOCOL } from '../../src/protocol/topics.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import {
  concatBytes, FuzzFailure, hostileText, jsonNasty, looseJson, mutatedBytes, mutatedValue, rarely, toDagJsonBytes,
  typed, typedAsync, type FuzzTarget, type Outcome
} from './fuzz-harness.js'
import { pngBombIdat } from './fuzz-targets.js'

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

/** An unsigned varint, as it-length-prefixed writes frame lengths. */
function varint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return Uint8Array.from(out)
}

const frame = (payload: Uint8Array): Uint8Array => concatBytes([varint(payload.length), payload])

/** Splits what a server sent into length-prefixed frames; undefined when the framing is broken. */
function splitFrames (bytes: Uint8Array): Uint8Array[] | undefined {
  const frames: Uint8Array[] = []
  let o = 0
  while (o < bytes.length) {
    let length = 0
    let shift = 1
    for (;;) {
      if (o >= bytes.length || shift > 2 ** 35) return undefined
      const b = bytes[o++]
      length += (b & 0x7f) * shift
      shift *= 0x80
      if (b < 0x80) break
    }
    if (o + length > bytes.length) return undefined
    frames.push(bytes.subarray(o, o + length))
    o += length
  }
  return frames
}

/** Every byte the other end sends until it closes (or `signal` fires: a hang). */
async function readAll (stream: Parameters<typeof byteStream>[0], signal: AbortSignal): Promise<Uint8Array> {
  const bytes = byteStream(stream)
  const parts: Uint8Array[] = []
  for (;;) {
    const chunk = await bytes.read({ signal })
    if (chunk === null) return concatBytes(parts)
    parts.push(chunk.subarray())
  }
}

/** A 1x1 PNG whose image data inflates to 64 MiB: what a hostile sample server could send. */
function pngBomb (): Uint8Array {
  const valid = encodePng({ width: 1, height: 1, channels: 1, pixels: Uint8Array.of(7) })
  const ihdrEnd = 8 + 12 + 13
  const idat = pngBombIdat()
  const chunk = new Uint8Array(12 + idat.length)
  const view = new DataView(chunk.buffer)
  view.setUint32(0, idat.length)
  chunk.set(utf8('IDAT'), 4)
  chunk.set(idat, 8)
  // A right CRC: decoders check it first, and the bomb must reach the inflater.
  view.setUint32(8 + idat.length, crc32(chunk.subarray(4, 8 + idat.length)))
  return concatBytes([valid.subarray(0, ihdrEnd), chunk, valid.subarray(valid.length - 12)])
}

/** How the fuzzing client frames its request: honestly, split, doubled, with a lying prefix, not at all, or reset. */
const ODD_FRAMINGS = [
  'lp-split', 'two-frames', 'prefix-long', 'prefix-huge', 'varint-overlong', 'raw', 'empty', 'reset'
] as const
type Framing = 'lp' | typeof ODD_FRAMINGS[number]

interface ServiceInput { payload: Uint8Array, framing: Framing, second: Uint8Array }
type CoverageFraming = 'lp' | 'prefix-long' | 'prefix-huge' | 'raw' | 'empty'
/** What requestSamples may throw at a hostile server: a refusal, a protocol error or (had it stalled) an abort. */
const CLIENT_ERRORS = ['SampleRefusedError', 'SampleProtocolError', 'AbortError']

export interface NetworkTargets {
  targets: FuzzTarget[]
  /** The sample server, to check it still serves (and holds no job) after the fuzzing. */
  service: SampleService
  serviceCheck: () => Promise<void>
  close: () => Promise<void>
}

export async function networkTargets (): Promise<NetworkTargets> {
  const nodes: TestNode[] = []
  try {
    const server = await createTestNode()
    nodes.push(server)
    const hostile = await createTestNode()
    nodes.push(hostile)
    const client = await createTestNode()
    nodes.push(client)
    await client.swarm.libp2p.dial(multiaddr(server.addr))
    await client.swarm.libp2p.dial(multiaddr(hostile.addr))
    return await buildTargets(server, hostile, client, nodes)
  } catch (err) {
    for (const node of nodes.reverse()) await node.stop().catch(() => {})
    throw err
  }
}

async function buildTargets (server: TestNode, hostile: TestNode, client: TestNode, nodes: TestNode[]):
Promise<NetworkTargets> {
  const cid = async (code: number, label: string): Promise<CID> => CID.createV1(code, await sha256.digest(utf8(label)))
  // The stub ensemble draws instantly; any other CID goes to the real handler, which refuses
  // what it does not hold (identity CIDs carry their "manifest" inline and are refused as invalid).
  const stub = (await cid(DAG_JSON_CODE, 'stub ensemble')).toString()
  const unknown = (await cid(DAG_JSON_CODE, 'not held')).toString()
  const inline = CID.createV1(DAG_JSON_CODE, identity.digest(dagJson.encode({ v: 1, k: 2 }))).toString()
  const inlineRaw = CID.createV1(raw.code, identity.digest(utf8('hi'))).toString()
  const png = encodePng({ width: 2, height: 2, channels: 1, pixels: Uint8Array.of(0, 64, 128, 255) })
  const real = ensembleSampleHandler({ storage: server.storage })
  const handler: SampleHandler = async (request, options) => {
    if (request.ensemble !== stub) return await real.handler(request, options)
    const steps = Math.min(request.steps, 3)
    for (let i = 1; i <= steps; i++) options.onProgress(i, steps)
    const prompts = Array.from({ length: request.count }, (_, i) => request.prompts[i % request.prompts.length])
    return prompts.map((prompt) => ({ prompt, png }))
  }
  // No rate limit to speak of (thousands of requests from one peer), a short wait for a frame.
  const service = createSampleService(
    { maxConcurrent: 4, rateLimit: { requests: 1e9, windowMs: 60_000 }, requestTimeoutMs: 3000 },
    { libp2p: server.swarm.libp2p, handler }
  )
  await service.start()

  const request = fc.record({
    v: fc.constant(1),
    ensemble: rarely(fc.constant(stub), fc.constantFrom(unknown, inline, inlineRaw), 6),
    prompts: fc.array(fc.constantFrom('seven', 'two', ''), { minLength: 1, maxLength: 3 }),
    count: fc.integer({ min: 1, max: 8 }),
    steps: fc.integer({ min: 1, max: 250 }),
    seed: fc.nat(),
    routing: fc.constantFrom('full', 'top1', 'threshold:0.5'),
    guidance: fc.double({ min: 0, max: 20, noNaN: true })
  })
  const payload = fc.oneof(
    { weight: 3, arbitrary: request.map((r) => dagJson.encode(r)) },
    { weight: 4, arbitrary: mutatedValue(request, jsonNasty).map(toDagJsonBytes) },
    { weight: 3, arbitrary: mutatedBytes(request.map((r) => dagJson.encode(r))) },
    { weight: 1, arbitrary: hostileText }
  )
  const framing = rarely<Framing>(fc.constant('lp'), fc.constantFrom(...ODD_FRAMINGS), 10)

  const sampleService: FuzzTarget<ServiceInput> = {
    name: 'sample-service',
    arbitrary: fc.record({ payload, framing, second: fc.uint8Array({ maxLength: 32 }) }),
    run: async ({ payload, framing, second }) => {
      const signal = AbortSignal.timeout(10_000)
      const stream = await client.swarm.libp2p.dialProtocol(multiaddr(server.addr), SAMPLE_PROTOCOL, { signal })
      const send = async (bytes: Uint8Array): Promise<void> => {
        if (bytes.length > 0 && !stream.send(bytes)) await stream.onDrain({ signal })
      }
      try {
        switch (framing) {
          case 'lp': await send(frame(payload)); break
          case 'lp-split': {
            // Half a length prefix, then a few bytes, then the rest, each a moment apart.
            const bytes = frame(payload)
            for (const [from, to] of [[0, 1], [1, 7], [7, bytes.length]]) {
              await send(bytes.subarray(from, to))
              await new Promise((resolve) => setTimeout(resolve, 2))
            }
            break
          }
          case 'two-frames': await send(concatBytes([frame(payload), frame(second)])); break
          case 'prefix-long': await send(concatBytes([varint(payload.length + 1 + second.length), payload])); break
          case 'prefix-huge': await send(concatBytes([varint(2 ** 31), payload])); break
          case 'varint-overlong': await send(concatBytes([new Uint8Array(12).fill(0xff), payload])); break
          case 'raw': await send(payload); break
          case 'empty': break
          case 'reset':
            await send(frame(payload))
            stream.abort(new Error('the fuzzing client went away'))
            return 'ignore'
        }
        await stream.close({ signal })
        const answer = splitFrames(await readAll(stream, signal))
        if (answer === undefined || answer.length === 0) {
          throw new FuzzFailure(`the server's answer is not a sequence of frames (${framing})`)
        }
        const frames = answer.map((f) => {
          try {
            return decodeSampleFrame(f)
          } catch (err) {
            throw new FuzzFailure(`the server sent a frame its clients refuse: ${(err as Error).message}`)
          }
        })
        return judgeAnswer(frames, framing, payload, stub)
      } finally {
        if (stream.status === 'open') stream.abort(new Error('done'))
      }
    }
  }

  // -- A hostile sample server, and requestSamples against it.
  let script: { frames: Uint8Array, end: 'close' | 'reset' } = { frames: new Uint8Array(0), end: 'close' }
  await hostile.swarm.libp2p.handle(SAMPLE_PROTOCOL, async (stream) => {
    const bytes = byteStream(stream)
    try {
      await bytes.read({ signal: AbortSignal.timeout(5000) })
      await bytes.write(script.frames)
      if (script.end === 'reset') stream.abort(new Error('the hostile server resets'))
      else await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  })
  const bomb = pngBomb()
  // Mostly a real PNG; sometimes a bomb or a broken one, which `hddm-node sample --peer` then decodes.
  const imagePng = fc.oneof(
    { weight: 4, arbitrary: fc.constant(png) },
    { weight: 1, arbitrary: fc.constant(bomb) },
    { weight: 1, arbitrary: mutatedBytes(fc.constant(png)) }
  )
  const responseFrame: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
    fc.record({ type: fc.constant('progress'), step: fc.nat(10), steps: fc.integer({ min: 1, max: 10 }) }),
    fc.record({ type: fc.constant('image'), index: fc.nat(7), prompt: fc.constant('seven'), png: imagePng }),
    fc.record({ type: fc.constant('error'), code: fc.constantFrom(...SAMPLE_ERROR_CODES), message: fc.string() })
  )
  const responsePayload = fc.oneof(
    { weight: 6, arbitrary: responseFrame.map((f) => dagJson.encode(f)) },
    { weight: 2, arbitrary: mutatedValue(responseFrame, jsonNasty).map(toDagJsonBytes) },
    { weight: 2, arbitrary: mutatedBytes(responseFrame.map((f) => dagJson.encode(f))) },
    { weight: 1, arbitrary: hostileText }
  )
  const responseScript = fc.record({
    payloads: fc.array(responsePayload, { maxLength: 5 }),
    // Mostly an honest ending (done with the right count), else a wrong count, a lie or nothing.
    ending: fc.oneof(
      { weight: 4, arbitrary: fc.constant('done' as const) },
      { weight: 1, arbitrary: fc.constantFrom('done-wrong-count', 'prefix-long', 'prefix-huge', 'none') }
    ),
    end: rarely(fc.constant<'close' | 'reset'>('close'), fc.constant('reset'), 6)
  }).map(({ payloads, ending, end }) => {
    const isImage = (p: Uint8Array): boolean => {
      try {
        return decodeSampleFrame(p).type === 'image'
      } catch {
        return false
      }
    }
    const images = payloads.filter(isImage).length
    const tail = ending === 'done' ? frame(dagJson.encode({ type: 'done', count: images }))
      : ending === 'done-wrong-count' ? frame(dagJson.encode({ type: 'done', count: images + 1 }))
        : ending === 'prefix-long' ? concatBytes([varint(100), utf8('{"type":')])
          : ending === 'prefix-huge' ? varint(2 ** 30)
            : new Uint8Array(0)
    return { frames: concatBytes([...payloads.map(frame), tail]), end }
  })
  const validRequest = { v: 1 as const, ensemble: stub, prompts: ['seven'], count: 2, steps: 2, seed: 1 }
  const sampleClient: FuzzTarget<{ frames: Uint8Array, end: 'close' | 'reset' }> = {
    name: 'sample-client',
    arbitrary: responseScript,
    run: async (input) => {
      script = input
      let images
      try {
        images = await requestSamples(client.swarm.libp2p, multiaddr(hostile.addr), validRequest, { timeoutMs: 10_000 })
      } catch (err) {
        if (!(err instanceof HddmError) || !CLIENT_ERRORS.includes(err.name)) throw err
        return 'typed-error'
      }
      // What `hddm-node sample --peer` does with them next.
      for (const image of images) typed(() => { decodePng(image.png) })
      return 'accept'
    }
  }

  // -- A hostile coverage peer, and queryCoverage against it.
  let coverageScript: { bytes: Uint8Array, end: 'close' | 'reset' } = { bytes: new Uint8Array(0), end: 'close' }
  await hostile.swarm.libp2p.handle(COVERAGE_PROTOCOL, async (stream) => {
    const bytes = byteStream(stream)
    try {
      await bytes.read({ signal: AbortSignal.timeout(5000) })
      await bytes.write(coverageScript.bytes)
      if (coverageScript.end === 'reset') stream.abort(new Error('the hostile peer resets'))
      else await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  })
  const run = (await cid(DAG_JSON_CODE, 'fuzz-run')).toString()
  const peer = hostile.swarm.peerId.toString()
  const t0 = 1_750_000_000_000
  const ckpt = (await cid(raw.code, 'ckpt')).toString()
  const checkpoint = { peer, cid: ckpt, step: 10, final: false, heldOutLoss: 0.4, ts: t0 }
  const holder = { peer, since: t0, leaseUntil: t0 + 60_000, step: 10, loss: 0.5, progressAt: t0 }
  const final = { ...checkpoint, final: true }
  const coverage = {
    run,
    tasks: [
      { task: 'expert-0', replicas: 1, holders: [holder], free: false, checkpoint, finals: [final] },
      { task: 'router', replicas: 1, holders: [], free: true }
    ]
  }
  const coverageText = utf8(JSON.stringify(coverage))
  const coverageInput = fc.record({
    payload: fc.oneof(
      { weight: 2, arbitrary: fc.constant(coverageText) },
      { weight: 4, arbitrary: mutatedValue(fc.constant(coverage), jsonNasty).map((v) => utf8(looseJson(v))) },
      { weight: 3, arbitrary: mutatedBytes(fc.constant(coverageText)) },
      { weight: 1, arbitrary: hostileText }
    ),
    framing: rarely<CoverageFraming>(fc.constant('lp'), fc.constantFrom('prefix-long', 'prefix-huge', 'raw', 'empty')),
    end: rarely<'close' | 'reset'>(fc.constant('close'), fc.constant('reset'))
  })
  const coverageClient: FuzzTarget<{ payload: Uint8Array, framing: CoverageFraming, end: 'close' | 'reset' }> = {
    name: 'coverage-client',
    arbitrary: coverageInput,
    run: async ({ payload, framing, end }) => {
      const bytes = framing === 'lp' ? frame(payload)
        : framing === 'prefix-long' ? concatBytes([varint(payload.length + 5), payload])
          : framing === 'prefix-huge' ? concatBytes([varint(2 ** 31), payload])
            : framing === 'raw' ? payload : new Uint8Array(0)
      coverageScript = { bytes, end }
      return await typedAsync(async () => {
        const rows = await queryCoverage(client.swarm.libp2p, multiaddr(hostile.addr), run, 10_000)
        if (!Array.isArray(rows)) throw new FuzzFailure('a coverage map that is not a list of rows')
      })
    }
  }

  return {
    targets: [sampleService, sampleClient, coverageClient],
    service,
    serviceCheck: async () => {
      const images = await requestSamples(client.swarm.libp2p, multiaddr(server.addr), { ...validRequest, count: 3 })
      if (images.length !== 3) throw new FuzzFailure(`the server served ${images.length} of 3 images after the fuzzing`)
    },
    close: async () => {
      await service.stop()
      real.dispose()
      for (const node of nodes.reverse()) await node.stop()
    }
  }
}

/** What the server should have said to this request, framed this way. */
function judgeAnswer (frames: SampleResponseFrame[], framing: Framing, payload: Uint8Array, stub: string): Outcome {
  const last = frames[frames.length - 1]
  if (frames.slice(0, -1).some((f) => f.type === 'done' || f.type === 'error')) {
    throw new FuzzFailure('frames after the final one')
  }
  if (last.type !== 'done' && last.type !== 'error') throw new FuzzFailure(`the answer ends with a ${last.type} frame`)
  const images = frames.filter((f) => f.type === 'image').length
  if (last.type === 'done' && last.count !== images) {
    throw new FuzzFailure(`done says ${last.count} images after ${images}`)
  }
  if (last.type === 'error' && last.code === 'internal') {
    throw new FuzzFailure(`the server failed internally: ${last.message}`)
  }
  // Only a well-framed first frame has an answer we can predict; `raw` bytes are whatever they parse as.
  if (framing === 'raw') return last.type === 'done' ? 'accept' : last.code === 'bad-request' ? 'reject' : 'typed-error'
  let request
  try {
    if (['prefix-long', 'prefix-huge', 'varint-overlong', 'empty'].includes(framing)) throw new Error('no frame')
    request = decodeSampleRequest(payload)
  } catch {
    if (last.type !== 'error' || last.code !== 'bad-request') {
      const answer = last.type === 'error' ? last.code : 'images'
      throw new FuzzFailure(`a request that does not decode was answered with ${answer}`)
    }
    return 'reject'
  }
  if (last.type === 'error') {
    const notHeld = last.code === 'unknown-ensemble' || last.code === 'invalid-ensemble'
    if (last.code === 'busy' || (request.ensemble !== stub && notHeld)) return 'typed-error'
    throw new FuzzFailure(`a valid request was refused as ${last.code}: ${last.message}`)
  }
  if (request.ensemble !== stub || images !== request.count) {
    throw new FuzzFailure(`${images} images for a request of ${request.count} from ${request.ensemble}`)
  }
  return 'accept'
}
