/**
 * Fuzz targets that need no network: every decoder and validator a peer's bytes reach (gossip
 * validators, the dag-json codec, run and ensemble manifests, sample-protocol frames, checkpoints,
 * shards, PNGs). Each target's generator mixes valid inputs, structure-aware mutations of them
 * and byte-level mutations of their encodings (fuzz-harness.ts); each `run` also checks what an
 * accepted input must satisfy, so that "accepted" is not a silent wrong answer either.
 */
import { readFileSync } from 'node:fs'
import { crc32, deflateSync } from 'node:zlib'
import * as dagJson from '@ipld/dag-json'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'uint8arrays/equals'
import { decodePng, encodePng } from '../../src/data/png.js'
import { decodeShard, encodeShard, shardToDataset, type Shard, type ShardHeader } from '../../src/data/shard.js'
import { Tokenizer } from '../../src/data/tokenizer.js'
import { parseRouting } from '../../src/diffusion/routing.js'
import { checkAnnouncedCheckpoint } from '../../src/node/announced-checkpoint.js'
import { DAG_JSON_CODE } from '../../src/protocol/canonical.js'
import { decodeGossipMessage, encodeGossipMessage } from '../../src/protocol/codec.js'
import { decodeEnsembleManifest, encodeEnsembleManifest } from '../../src/protocol/ensemble-manifest.js'
import {
  budgetOf, decodeResolvedRunManifest, encodeResolvedRunManifest, parseResolvedRunManifest, parseRunManifest,
  parseRunManifestJson, type ResolvedRunManifest
} from '../../src/protocol/run-manifest.js'
import {
  decodeSampleFrame, decodeSampleRequest, encodeSampleRequest, SAMPLE_ERROR_CODES
} from '../../src/protocol/sample-messages.js'
import { createGossipValidator, type ValidationResult } from '../../src/protocol/validate.js'
import {
  CHECKPOINT_FORMAT, decodeCheckpoint, encodeCheckpoint, type CheckpointMetadata
} from '../../src/checkpoint/format.js'
import { encodeSafetensors, type NamedTensor } from '../../src/checkpoint/safetensors.js'
import { expertConfig } from '../../src/checkpoint/expert.js'
import { routerConfig } from '../../src/checkpoint/router.js'
import {
  anyNasty, concatBytes, expectError, FuzzFailure, hostileText, jsonNasty, looseJson, mutatedBytes, mutatedValue,
  rarely, toDagJsonBytes, typed, type FuzzTarget, type LengthField, type Outcome
} from './fuzz-harness.js'

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

async function cidOf (code: number, label: string): Promise<CID> {
  return CID.createV1(code, await sha256.digest(utf8(label)))
}

// ---------------------------------------------------------------------------------------------
// Gossip: createGossipValidator and the four per-type validators behind it

const T0 = 1_750_000_000_000
const LEASE_MS = 60_000
const TASKS = [{ id: 'expert-0' }, { id: 'expert-1' }, { id: 'router' }]
const REJECT_CODES = new Set([
  'too-large', 'malformed', 'non-canonical', 'schema', 'forged', 'wrong-run', 'unknown-task', 'bad-lease', 'bad-cid'
])
const IGNORE_CODES = new Set(['future', 'stale', 'lease-expired', 'duplicate'])

interface GossipFixture { run: string, otherRun: string, peers: [string, string], checkpointCids: string[] }

async function gossipFixture (): Promise<GossipFixture> {
  const peer = async (seed: number): Promise<string> =>
    peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))).toString()
  return {
    run: (await cidOf(DAG_JSON_CODE, 'fuzz-run')).toString(),
    otherRun: (await cidOf(DAG_JSON_CODE, 'another run')).toString(),
    peers: [await peer(1), await peer(2)],
    // raw and dag-pb are files; a dag-json CID is a `bad-cid`
    checkpointCids: await Promise.all([raw.code, 0x70, DAG_JSON_CODE].map(async (c) => `${await cidOf(c, 'ckpt')}`))
  }
}

/** Mostly the first choice: most generated messages should get past the cheap rules. */
function mostly<T> (usual: T, ...rare: T[]): fc.Arbitrary<T> {
  return rarely(fc.constant(usual), fc.constantFrom(usual, ...rare), 9)
}

type MessageArbitraries = Record<'claim' | 'progress' | 'checkpoint' | 'release', fc.Arbitrary<Record<string, unknown>>>

function gossipMessages (f: GossipFixture): MessageArbitraries {
  const envelope = {
    v: fc.constant(1),
    run: mostly(f.run, f.otherRun),
    peer: mostly(f.peers[0], f.peers[1]),
    // Around the receiver's clock T0, sometimes far outside the freshness window.
    ts: rarely(fc.integer({ min: T0 - 5000, max: T0 + 5000 }), fc.integer({ min: T0 - 200_000, max: T0 + 100_000 }), 4),
    task: mostly('expert-0', 'expert-1', 'router', 'expert-9')
  }
  const nonce = fc.uint8Array({ minLength: 8, maxLength: 32 }).map(hex)
  const loss = fc.double({ min: 0, max: 1e6, noNaN: true })
  const lease = rarely(fc.integer({ min: 1000, max: LEASE_MS }), fc.integer({ min: -10_000, max: LEASE_MS * 2 }), 4)
  const cid = mostly(f.checkpointCids[0], ...f.checkpointCids.slice(1))
  return {
    claim: fc.record({ ...envelope, type: fc.constant('claim'), lease, nonce })
      .map(({ lease, ...m }) => ({ ...m, leaseUntil: Math.max(0, m.ts + lease) })),
    progress: fc.record({ ...envelope, type: fc.constant('progress'), step: fc.nat(), loss, nonce }),
    checkpoint: fc.record({
      ...envelope, type: fc.constant('checkpoint'), cid, step: fc.nat(), final: fc.boolean(), heldOutLoss: loss
    }),
    release: fc.record({ ...envelope, type: fc.constant('release') })
  }
}

function checkValidation (result: ValidationResult): void {
  if (result.action === 'accept') return
  const codes = result.action === 'reject' ? REJECT_CODES : result.action === 'ignore' ? IGNORE_CODES : undefined
  if (codes === undefined || !codes.has(result.code) || typeof result.reason !== 'string') {
    throw new FuzzFailure(`not a validation result: ${JSON.stringify(result)}`)
  }
}

interface GossipInput { bytes: Uint8Array, from: string }

function gossipTarget (name: string, f: GossipFixture, bytes: fc.Arbitrary<Uint8Array>): FuzzTarget<GossipInput> {
  return {
    name,
    arbitrary: fc.record({ bytes, from: mostly(f.peers[0], f.peers[1]) }),
    run: ({ bytes, from }) => {
      // A fresh validator per input keeps inputs independent (and shrinkable); replays are checked below.
      const manifest = { tasks: TASKS, leaseMs: LEASE_MS }
      const validate = createGossipValidator({ run: f.run, manifest, clock: () => T0 })
      const first = validate(bytes, from)
      checkValidation(first)
      if (first.action === 'accept') {
        if (!equals(encodeGossipMessage(first.message), bytes)) {
          throw new FuzzFailure('accepted bytes that are not the canonical encoding of their message')
        }
        const again = validate(bytes, from)
        if (again.action !== 'ignore' || again.code !== 'duplicate') {
          throw new FuzzFailure(`a replay of an accepted message was answered ${again.action}`)
        }
      }
      return first.action
    }
  }
}

/** One target per message type (claim, progress, checkpoint, release), raw bytes, and the encoder. */
export async function gossipTargets (): Promise<FuzzTarget[]> {
  const f = await gossipFixture()
  const messages = gossipMessages(f)
  const perType = Object.entries(messages).map(([type, valid]) => gossipTarget(`gossip:${type}`, f, fc.oneof(
    { weight: 3, arbitrary: valid.map((m) => dagJson.encode(m)) },
    { weight: 4, arbitrary: mutatedValue(valid).map(toDagJsonBytes) },
    { weight: 3, arbitrary: mutatedBytes(valid.map((m) => dagJson.encode(m))) }
  )))
  const anyValid = fc.oneof(...Object.values(messages))
  const rawBytes = gossipTarget('gossip:bytes', f, fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    hostileText,
    // Valid messages with bytes dag-json gives a meaning to: links, byte strings, big integers.
    anyValid.map((m) => utf8(looseJson({ ...m, step: 2n ** 64n }))),
    anyValid.map((m) => dagJson.encode({ ...m, cid: CID.parse(f.checkpointCids[0]) })),
    anyValid.map((m) => dagJson.encode({ ...m, nonce: new Uint8Array(16) })),
    // Canonical but over the size cap.
    anyValid.map((m) => dagJson.encode({ ...m, pad: 'x'.repeat(2100) }))
  ))
  const encoder: FuzzTarget<unknown> = {
    name: 'gossip:encode',
    arbitrary: mutatedValue(anyValid, anyNasty),
    run: (value) => {
      let bytes: Uint8Array
      try {
        bytes = encodeGossipMessage(value as Parameters<typeof encodeGossipMessage>[0])
      } catch (err) {
        expectError(err, 'InvalidMessageError', ['schema', 'too-large'])
        return 'typed-error'
      }
      // What the encoder lets out, every receiver must be able to decode.
      try {
        decodeGossipMessage(bytes)
      } catch (err) {
        throw new FuzzFailure(`encoded a message receivers refuse: ${(err as Error).message}`)
      }
      return 'accept'
    }
  }
  return [...perType, rawBytes, encoder]
}

// ---------------------------------------------------------------------------------------------
// Run and ensemble manifests

function defaultManifestJson (): string {
  return readFileSync(new URL('../../manifests/default.json', import.meta.url), 'utf8')
}

/** The default run resolved with made-up shards: what decodeResolvedRunManifest reads from a peer. */
async function resolvedManifest (): Promise<ResolvedRunManifest> {
  const manifest = parseRunManifestJson(defaultManifestJson())
  const shards = await Promise.all(Array.from({ length: manifest.k }, async (_, cluster) => ({
    cluster,
    train: await cidOf(raw.code, `train-${cluster}`),
    heldOut: await cidOf(raw.code, `held-out-${cluster}`),
    trainCount: 100 + cluster,
    heldOutCount: 5
  })))
  const frequencies = Array.from({ length: manifest.k }, () => 1 / manifest.k)
  const resolved = { shards, frequencies, dataDigest: '0'.repeat(64), tokenizerDigest: 'a'.repeat(64) }
  return parseResolvedRunManifest({ ...manifest, resolved })
}

type ManifestInput = { kind: 'value', value: unknown } | { kind: 'text', text: string }

export async function manifestTargets (): Promise<FuzzTarget[]> {
  const text = defaultManifestJson()
  const value = JSON.parse(text) as unknown
  const asText = (bytes: Uint8Array): ManifestInput => ({ kind: 'text', text: new TextDecoder().decode(bytes) })
  const asValue = (v: unknown): ManifestInput => ({ kind: 'value', value: v })
  const runManifest: FuzzTarget<ManifestInput> = {
    name: 'run-manifest:parse',
    arbitrary: fc.oneof(
      { weight: 5, arbitrary: mutatedValue(fc.constant(value), anyNasty).map(asValue) },
      { weight: 3, arbitrary: mutatedBytes(fc.constant(utf8(text))).map(asText) },
      { weight: 1, arbitrary: hostileText.map(asText) }
    ),
    run: (input) => typed(() => {
      const manifest = input.kind === 'value' ? parseRunManifest(input.value) : parseRunManifestJson(input.text)
      // An accepted manifest is a fixpoint, and every task has a budget and a replica count.
      try {
        parseRunManifest(manifest)
      } catch (err) {
        throw new FuzzFailure(`an accepted manifest does not parse again: ${(err as Error).message}`)
      }
      for (const task of manifest.tasks) {
        if (!(budgetOf(manifest, task).steps >= 1) || !((task.replicas ?? manifest.replicas) >= 1)) {
          throw new FuzzFailure(`task ${task.id} has no budget`)
        }
      }
    })
  }

  const resolved = await resolvedManifest()
  const resolvedBytes = encodeResolvedRunManifest(resolved)
  const resolvedTarget: FuzzTarget<Uint8Array> = {
    name: 'run-manifest:decode',
    arbitrary: fc.oneof(
      { weight: 5, arbitrary: mutatedValue(fc.constant(resolved), jsonNasty).map(toDagJsonBytes) },
      { weight: 4, arbitrary: mutatedBytes(fc.constant(resolvedBytes)) },
      { weight: 1, arbitrary: hostileText }
    ),
    run: (bytes) => typed(() => {
      const decoded = decodeResolvedRunManifest(bytes)
      try {
        encodeResolvedRunManifest(decoded)
      } catch (err) {
        throw new FuzzFailure(`a decoded manifest cannot be encoded again: ${(err as Error).message}`)
      }
    })
  }

  const ensemble = {
    v: 1,
    run: await cidOf(DAG_JSON_CODE, 'fuzz-run'),
    k: 3,
    router: await cidOf(raw.code, 'router'),
    experts: [
      { cid: await cidOf(raw.code, 'expert-0'), cluster: 0, objective: 'ddpm' },
      { cid: await cidOf(0x70, 'expert-2'), cluster: 2, objective: 'fm' }
    ],
    routing: 'threshold:0.50'
  }
  const ensembleBytes = dagJson.encode(ensemble)
  const ensembleTarget: FuzzTarget<Uint8Array> = {
    name: 'ensemble-manifest:decode',
    arbitrary: fc.oneof(
      { weight: 5, arbitrary: mutatedValue(fc.constant(ensemble), jsonNasty).map(toDagJsonBytes) },
      { weight: 4, arbitrary: mutatedBytes(fc.constant(ensembleBytes)) },
      { weight: 1, arbitrary: hostileText }
    ),
    run: (bytes) => typed(() => {
      const manifest = decodeEnsembleManifest(bytes)
      try {
        // What the manifest accepts, the sampler must understand; the name is stable.
        parseRouting(manifest.routing)
        const encoded = encodeEnsembleManifest(manifest)
        const again = encodeEnsembleManifest(decodeEnsembleManifest(encoded))
        if (!equals(again, encoded)) throw new Error('the encoding is not stable')
      } catch (err) {
        throw new FuzzFailure(`an accepted ensemble manifest is unusable: ${(err as Error).message}`)
      }
    })
  }
  return [runManifest, resolvedTarget, ensembleTarget]
}

// ---------------------------------------------------------------------------------------------
// Sample protocol frames (the service over real streams is in fuzz-network.ts)

export async function sampleMessageTargets (): Promise<FuzzTarget[]> {
  const ensemble = (await cidOf(DAG_JSON_CODE, 'ensemble')).toString()
  const request = fc.record({
    v: fc.constant(1),
    ensemble: fc.constant(ensemble),
    prompts: fc.array(fc.constantFrom('seven', 'two', 'a t-shirt', ''), { minLength: 1, maxLength: 4 }),
    count: fc.integer({ min: 1, max: 64 }),
    steps: fc.integer({ min: 1, max: 250 }),
    seed: fc.nat(),
    routing: fc.constantFrom('full', 'top1', 'top2', 'threshold:0.5', 'threshold:1.000'),
    guidance: fc.double({ min: 0, max: 20, noNaN: true })
  })
  const requestTarget: FuzzTarget<Uint8Array> = {
    name: 'sample:request',
    arbitrary: fc.oneof(
      { weight: 2, arbitrary: request.map((r) => dagJson.encode(r)) },
      { weight: 4, arbitrary: mutatedValue(request, jsonNasty).map(toDagJsonBytes) },
      { weight: 3, arbitrary: mutatedBytes(request.map((r) => dagJson.encode(r))) },
      { weight: 1, arbitrary: hostileText }
    ),
    run: (bytes) => {
      let decoded
      try {
        decoded = decodeSampleRequest(bytes)
      } catch (err) {
        expectError(err, 'InvalidMessageError', ['too-large', 'malformed', 'schema'])
        return 'typed-error'
      }
      try {
        encodeSampleRequest(decoded)
        if (decoded.routing !== undefined) parseRouting(decoded.routing)
      } catch (err) {
        throw new FuzzFailure(`an accepted request is unusable: ${(err as Error).message}`)
      }
      return 'accept'
    }
  }
  const png = encodePng({ width: 2, height: 2, channels: 1, pixels: Uint8Array.of(0, 64, 128, 255) })
  const frame = fc.oneof(
    fc.record({ type: fc.constant('progress'), step: fc.nat(), steps: fc.integer({ min: 1, max: 250 }) }),
    fc.record({ type: fc.constant('image'), index: fc.nat(63), prompt: fc.constant('seven'), png: fc.constant(png) }),
    fc.record({ type: fc.constant('done'), count: fc.nat({ max: 64 }) }),
    fc.record({ type: fc.constant('error'), code: fc.constantFrom(...SAMPLE_ERROR_CODES), message: fc.string() })
  )
  const frameTarget: FuzzTarget<Uint8Array> = {
    name: 'sample:frame',
    arbitrary: fc.oneof(
      { weight: 2, arbitrary: frame.map((r) => dagJson.encode(r)) },
      { weight: 4, arbitrary: mutatedValue(frame, jsonNasty).map(toDagJsonBytes) },
      { weight: 3, arbitrary: mutatedBytes(frame.map((r) => dagJson.encode(r))) },
      { weight: 1, arbitrary: hostileText }
    ),
    run: (bytes) => {
      try {
        decodeSampleFrame(bytes)
      } catch (err) {
        expectError(err, 'InvalidMessageError', ['too-large', 'malformed', 'schema'])
        return 'typed-error'
      }
      return 'accept'
    }
  }
  return [requestTarget, frameTarget]
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: the safetensors decoder and the content check of an announced checkpoint

const SAFETENSORS_LENGTH: LengthField = { offsets: () => [0], size: 8, littleEndian: true }

function smallTensors (nonFinite = false): Map<string, NamedTensor> {
  const a = Float32Array.from({ length: 6 }, (_, i) => i / 7 - 0.3)
  if (nonFinite) a[4] = Number.NaN
  return new Map([
    ['a', { shape: [2, 3], data: a }],
    ['b', { shape: [4], data: Float32Array.of(1, -1, 0.5, 2) }],
    ['raw.a', { shape: [2, 3], data: a.slice() }],
    ['z', { shape: [0, 5], data: new Float32Array(0) }]
  ])
}

/** A safetensors file from a header object written as text (which may lie about anything). */
function assembleSafetensors (header: unknown, data: Uint8Array, lengthLie?: bigint): Uint8Array {
  let text = looseJson(header)
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8)
  const headerBytes = utf8(text)
  const prefix = new Uint8Array(8)
  new DataView(prefix.buffer).setBigUint64(0, lengthLie ?? BigInt(headerBytes.length), true)
  return concatBytes([prefix, headerBytes, data])
}

export async function checkpointTargets (): Promise<FuzzTarget[]> {
  const digits = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']
  const tokenizer = Tokenizer.fromPrompts(digits, { maxLength: 4 })
  const base = await resolvedManifest()
  const manifest = parseResolvedRunManifest({
    ...base,
    model: { expert: 'tiny', router: 'router-tiny' },
    resolved: { ...base.resolved, tokenizerDigest: tokenizer.digest }
  })
  const runId = (await cidOf(DAG_JSON_CODE, 'fuzz-run')).toString()
  const metadataFor = (taskId: string): CheckpointMetadata => {
    const task = manifest.tasks.find((t) => t.id === taskId)!
    const step = budgetOf(manifest, task).steps
    const common = { format: CHECKPOINT_FORMAT, step, run: runId } as const
    if (task.kind === 'router') {
      const config = { ...routerConfig('router-tiny', manifest.k, 'prompt', tokenizer) }
      return { ...common, network: 'router', config, extra: { tokenizer: tokenizer.toJSON() } }
    }
    const config = { ...expertConfig('tiny', tokenizer) }
    return {
      ...common,
      network: 'expert',
      config,
      objective: task.objective,
      cluster: task.cluster,
      schedule: { kind: 'cosine', T: 1000 },
      extra: { tokenizer: tokenizer.toJSON(), heldOutLoss: 0.5 }
    }
  }
  const valid = encodeCheckpoint({ metadata: metadataFor('expert-1'), tensors: smallTensors() })
  const headerLength = Number(new DataView(valid.buffer).getBigUint64(0, true))
  const header = JSON.parse(new TextDecoder().decode(valid.subarray(8, 8 + headerLength))) as Record<string, unknown>
  const data = valid.subarray(8 + headerLength)
  const metadata = JSON.parse((header.__metadata__ as { hddm: string }).hddm) as unknown

  const structured = fc.record({
    // The header and the metadata inside it are mutated as one value, so a mutation reaches either.
    parts: mutatedValue(fc.constant({ header: { ...header, __metadata__: undefined }, metadata }), jsonNasty),
    lengthLie: fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { freq: 5 }),
    cut: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -16, max: 16 }) })
  }).map(({ parts, lengthLie, cut }) => {
    const p = (parts ?? {}) as { header?: unknown, metadata?: unknown }
    const h = p.header !== null && typeof p.header === 'object' && !Array.isArray(p.header)
      ? { ...(p.header as Record<string, unknown>), __metadata__: { hddm: looseJson(p.metadata) } }
      : p.header
    const body = cut <= 0 ? data.subarray(0, data.length + cut) : concatBytes([data, new Uint8Array(cut)])
    return assembleSafetensors(h, body, lengthLie ?? undefined)
  })
  const decode: FuzzTarget<Uint8Array> = {
    name: 'checkpoint:decode',
    arbitrary: fc.oneof(
      { weight: 5, arbitrary: structured },
      { weight: 4, arbitrary: mutatedBytes(fc.constant(valid), [SAFETENSORS_LENGTH]) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) }
    ),
    run: (bytes) => typed(() => {
      const checkpoint = decodeCheckpoint(bytes)
      for (const [name, t] of checkpoint.tensors) {
        if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) {
          throw new FuzzFailure(`tensor ${name} holds ${t.data.length} values for shape ${JSON.stringify(t.shape)}`)
        }
      }
      if (checkpoint.metadata.format !== CHECKPOINT_FORMAT) throw new FuzzFailure('accepted metadata of another format')
    })
  }

  // What a coverage map or a take-over hands to checkAnnouncedCheckpoint: a peer's file and claim.
  const tasks = ['expert-0', 'expert-1', 'router'] as const
  interface Announced { task: string, metadata: unknown, step: number | undefined, final: boolean, nonFinite: boolean }
  const announced: FuzzTarget<Announced> = {
    name: 'checkpoint:announced',
    arbitrary: fc.constantFrom(...tasks).chain((task) => fc.record({
      task: fc.constant(task),
      metadata: rarely(mutatedValue(fc.constant(metadataFor(task)), jsonNasty), fc.constant(metadataFor(task)), 6),
      step: fc.option(fc.oneof(fc.nat(), fc.constantFrom(-1, 0.5, 2 ** 53)), { freq: 3 }).map((s) => s ?? undefined),
      final: fc.boolean(),
      nonFinite: fc.boolean()
    })),
    run: (input) => typed(() => {
      const task = manifest.tasks.find((t) => t.id === input.task)!
      const step = input.step ?? ((input.metadata as { step?: number } | null)?.step ?? 0)
      const metadata = { hddm: looseJson(input.metadata) }
      const bytes = encodeSafetensors({ tensors: smallTensors(input.nonFinite), metadata })
      checkAnnouncedCheckpoint({ runId, manifest }, task, { cid: 'bafkreifuzz', step, final: input.final }, bytes)
    })
  }
  return [decode, announced]
}

// ---------------------------------------------------------------------------------------------
// Data: shards (fetched from peers by CID) and PNGs (a sample server's images)

const SHARD_LENGTHS: LengthField[] = [
  { offsets: () => [12], size: 4, littleEndian: true },
  { offsets: () => [8], size: 4, littleEndian: true }
]

function smallShard (): Shard {
  const tokenizer = Tokenizer.fromPrompts(['a shoe', 'a bag', 'a coat'])
  const header: ShardHeader = {
    format: 'hddm-shard',
    dataset: { name: 'fuzz', digest: 'd'.repeat(64), count: 10 },
    cluster: 1,
    k: 3,
    split: 'train',
    seed: 7,
    heldOutFraction: 0.05,
    clusteringDigest: 'c'.repeat(64),
    count: 3,
    width: 4,
    height: 4,
    channels: 1,
    hasLabels: true,
    classNames: ['a bag', 'a coat', 'a shoe'],
    prompts: ['a bag', 'a coat', 'a shoe'],
    tokenizer: tokenizer.toJSON(),
    tokenizerDigest: tokenizer.digest
  }
  return {
    header,
    sourceIndices: Uint32Array.of(0, 4, 9),
    promptIds: Uint32Array.of(2, 0, 1),
    labels: Int32Array.of(2, 0, 1),
    pixels: Uint8Array.from({ length: 48 }, (_, i) => i * 5)
  }
}

/** Shard bytes around a (mutated) header: the body is the original, cut, or sized to fit the header. */
function assembleShard (header: unknown, body: Uint8Array, fit: boolean, version: number, lie?: number): Uint8Array {
  let json = utf8(looseJson(header))
  json = concatBytes([json, new Uint8Array((8 - (json.length % 8)) % 8).fill(0x20)])
  if (fit) {
    const h = (header ?? {}) as Record<string, unknown>
    const num = (v: unknown): number => typeof v === 'number' ? v : Number.NaN
    const n = num(h.count)
    const size = num(h.width) * num(h.height) * num(h.channels)
    const length = n * (h.hasLabels === true ? 12 : 8) + n * size
    // All-zero indices and labels are in range wherever the header allows any item at all.
    if (Number.isSafeInteger(length) && length >= 0 && length <= 1 << 20) body = new Uint8Array(length)
  }
  const preamble = new Uint8Array(16)
  preamble.set(utf8('HDDMSHRD'))
  const view = new DataView(preamble.buffer)
  view.setUint32(8, version, true)
  view.setUint32(12, lie ?? json.length, true)
  return concatBytes([preamble, json, body])
}

// PNG pieces, written here rather than with encodePng so that every field can be wrong.
const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)

function pngChunk (type: string, data: Uint8Array, badCrc = false): Uint8Array {
  const out = new Uint8Array(12 + data.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, data.length)
  out.set(utf8(type), 4)
  out.set(data, 8)
  view.setUint32(8 + data.length, (crc32(out.subarray(4, 8 + data.length)) ^ (badCrc ? 1 : 0)) >>> 0)
  return out
}

/** Offsets of every chunk's length field, for length lies. */
function pngChunkOffsets (bytes: Uint8Array): number[] {
  const out: number[] = []
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let o = 8; o + 8 <= bytes.length && out.length < 32; o += 12 + view.getUint32(o)) out.push(o)
  return out
}

const PNG_LENGTHS: LengthField = { offsets: pngChunkOffsets, size: 4, littleEndian: false }
const SAMPLES_OF_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }

let bomb: Uint8Array | undefined
/** IDAT data that inflates to 64 MiB of zeros: a 1x1 image must not make the decoder inflate it all. */
export function pngBombIdat (): Uint8Array {
  bomb ??= deflateSync(new Uint8Array(64 << 20), { level: 9 })
  return bomb
}

interface PngSpec {
  width: number
  height: number
  depth: number
  colorType: number
  methods: [number, number, number]
  filters: number[]
  pixels: Uint8Array
  rawDelta: number
  palette: Uint8Array | null
  trns: Uint8Array | null
  idatParts: number
  layout: 'normal' | 'idat-first' | 'no-ihdr' | 'no-iend' | 'two-ihdr' | 'unknown-chunk' | 'after-iend'
  bomb: boolean
  badCrc: boolean
}

/** The fields a hand-made valid PNG leaves at their plain values. */
const PLAIN_PNG: PngSpec = {
  width: 1, height: 1, depth: 8, colorType: 0, methods: [0, 0, 0], filters: [0], pixels: Uint8Array.of(0), rawDelta: 0,
  palette: null, trns: null, idatParts: 1, layout: 'normal', bomb: false, badCrc: false
}

function buildPng (s: PngSpec): Uint8Array {
  const ihdr = new Uint8Array(13)
  const v = new DataView(ihdr.buffer)
  v.setUint32(0, s.width >>> 0)
  v.setUint32(4, s.height >>> 0)
  ihdr.set([s.depth, s.colorType, ...s.methods], 8)
  let idat: Uint8Array
  if (s.bomb) {
    idat = pngBombIdat()
  } else {
    const samples = SAMPLES_OF_COLOR_TYPE[s.colorType] ?? 1
    const stride = Math.ceil((Math.min(s.width, 64) * samples * Math.max(1, s.depth)) / 8)
    const rows = Math.min(s.height, 64)
    const rawData = new Uint8Array(Math.max(0, rows * (stride + 1) + s.rawDelta))
    for (let i = 0; i < rawData.length; i++) {
      const row = Math.floor(i / (stride + 1))
      const filter = s.filters[row % Math.max(1, s.filters.length)] ?? 0
      rawData[i] = i % (stride + 1) === 0 ? filter : (s.pixels[i % s.pixels.length] ?? 0)
    }
    idat = deflateSync(rawData)
  }
  const parts: Uint8Array[] = []
  const step = Math.ceil(idat.length / s.idatParts)
  for (let o = 0; o < idat.length; o += step) parts.push(pngChunk('IDAT', idat.subarray(o, o + step)))
  const header = pngChunk('IHDR', ihdr, s.badCrc)
  const extras = [
    ...(s.palette !== null ? [pngChunk('PLTE', s.palette)] : []),
    ...(s.trns !== null ? [pngChunk('tRNS', s.trns)] : [])
  ]
  const end = pngChunk('IEND', new Uint8Array(0))
  const odd = Uint8Array.of(3)
  const chunks = {
    normal: [header, ...extras, ...parts, end],
    'idat-first': [...parts, header, ...extras, end],
    'no-ihdr': [...extras, ...parts, end],
    'no-iend': [header, ...extras, ...parts],
    'two-ihdr': [header, ...extras, ...parts, header, end],
    'unknown-chunk': [header, pngChunk('tEXt', utf8('Comment\0fuzz')), ...extras, ...parts, pngChunk('zzZZ', odd), end],
    'after-iend': [header, ...extras, end, ...parts]
  }[s.layout]
  return concatBytes([PNG_SIGNATURE, ...chunks])
}

const ODD_LAYOUTS = ['idat-first', 'no-ihdr', 'no-iend', 'two-ihdr', 'unknown-chunk', 'after-iend'] as const

function pngSpec (): fc.Arbitrary<PngSpec> {
  const side = rarely(fc.integer({ min: 1, max: 9 }), fc.constantFrom(0, 65_536, 8193, 2 ** 31, 2 ** 32 - 1), 12)
  return fc.record({
    width: side,
    height: side,
    depth: rarely(fc.constantFrom(1, 2, 4, 8, 16), fc.constantFrom(0, 3, 32, 255), 6),
    colorType: rarely(fc.constantFrom(0, 2, 3, 4, 6), fc.constantFrom(1, 5, 7, 255), 6),
    methods: rarely(fc.constant<[number, number, number]>([0, 0, 0]), fc.tuple(fc.nat(255), fc.nat(255), fc.nat(1))),
    filters: fc.array(rarely(fc.nat(4), fc.nat(255)), { maxLength: 12 }),
    pixels: fc.uint8Array({ minLength: 1, maxLength: 256 }),
    rawDelta: rarely(fc.constant(0), fc.integer({ min: -3, max: 3 })),
    palette: fc.option(fc.uint8Array({ maxLength: 800 }), { freq: 2 }),
    trns: fc.option(fc.uint8Array({ maxLength: 300 }), { freq: 2 }),
    idatParts: fc.integer({ min: 1, max: 3 }),
    layout: rarely(fc.constant('normal' as const), fc.constantFrom(...ODD_LAYOUTS), 12),
    bomb: rarely(fc.constant(false), fc.constant(true), 30),
    badCrc: rarely(fc.constant(false), fc.constant(true), 30)
  })
}

export function dataTargets (): FuzzTarget[] {
  const shard = smallShard()
  const valid = encodeShard(shard)
  const body = valid.subarray(valid.length - (3 * 12 + 48))
  const shardTarget: FuzzTarget<Uint8Array> = {
    name: 'shard:decode',
    arbitrary: fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          header: mutatedValue(fc.constant(shard.header), jsonNasty),
          fit: fc.boolean(),
          version: mostly(1, 0, 2, 2 ** 32 - 1),
          lengthLie: fc.option(fc.oneof(fc.nat(), fc.constantFrom(0, 7, 2 ** 31, 2 ** 32 - 1)), { freq: 8 })
        }).map((s) => assembleShard(s.header, body, s.fit, s.version, s.lengthLie ?? undefined))
      },
      { weight: 4, arbitrary: mutatedBytes(fc.constant(valid), SHARD_LENGTHS) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => concatBytes([utf8('HDDMSHRD'), b])) }
    ),
    run: (bytes) => typed(() => {
      const decoded = decodeShard(bytes)
      const h = decoded.header
      const n = h.count
      const pixels = n * h.width * h.height * h.channels
      if (decoded.sourceIndices.length !== n || decoded.promptIds.length !== n || decoded.pixels.length !== pixels) {
        throw new FuzzFailure('decoded arrays do not match the header')
      }
      shardToDataset(decoded)
    })
  }

  const validPngs = [
    encodePng({ width: 5, height: 3, channels: 1, pixels: Uint8Array.from({ length: 15 }, (_, i) => i * 17) }),
    encodePng({ width: 3, height: 2, channels: 4, pixels: Uint8Array.from({ length: 24 }, (_, i) => i * 11) }),
    // 2-bit palette with transparency; 16-bit gray with a transparent value
    buildPng({
      ...PLAIN_PNG, width: 4, height: 3, depth: 2, colorType: 3, filters: [1, 4, 3], pixels: Uint8Array.of(0x1b, 0xe4),
      palette: Uint8Array.from({ length: 12 }, (_, i) => i * 20), trns: Uint8Array.of(0, 128), idatParts: 2
    }),
    buildPng({
      ...PLAIN_PNG, width: 3, height: 3, depth: 16, colorType: 0, filters: [0, 2, 4],
      pixels: Uint8Array.of(1, 2, 3, 250), trns: Uint8Array.of(1, 2)
    })
  ]
  const pngTarget: FuzzTarget<Uint8Array> = {
    name: 'png:decode',
    arbitrary: fc.oneof(
      { weight: 5, arbitrary: pngSpec().map(buildPng) },
      { weight: 4, arbitrary: mutatedBytes(fc.constantFrom(...validPngs), [PNG_LENGTHS]) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => concatBytes([PNG_SIGNATURE, b])) }
    ),
    run: (bytes) => typed(() => {
      const image = decodePng(bytes)
      const { width, height, channels } = image
      if (!(channels >= 1 && channels <= 4) || image.pixels.length !== width * height * channels) {
        throw new FuzzFailure(`decoded ${image.pixels.length} bytes for ${width}x${height}x${channels}`)
      }
    })
  }
  return [shardTarget, pngTarget]
}

/** Every target that needs no network, in the order the benchmark prints them. */
export async function offlineTargets (): Promise<FuzzTarget[]> {
  return [
    ...await gossipTargets(), ...await manifestTargets(), ...await sampleMessageTargets(), ...await checkpointTargets(),
    ...dataTargets()
  ]
}

export type { Outcome }
