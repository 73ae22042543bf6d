/**
 * The property every fuzz target must hold (docs/RESULTS.md, "Protocol fuzzing"): whatever a peer
 * sends, the code under test answers, with ACCEPT/REJECT/IGNORE (validators), a decoded value,
 * or an error of one of hddm's named classes (src/errors.ts). A bare TypeError, RangeError or
 * SyntaxError, an unhandled rejection, an uncaught exception or an input that takes seconds is a
 * bug. The generators here mutate valid values two ways: structure-aware (a field replaced by a
 * wrong type, a huge or negative number, NaN, a long string, an extra key, deep nesting) and
 * byte-level (bit flips, truncation, extension, splices, length fields that lie).
 *
 * Shared by the fuzz tests (test/adversarial/fuzz-*.test.ts, a few hundred inputs per target)
 * and the benchmark (test/bench/fuzz.ts, 10 000 and more).
 */
import * as dagJson from '@ipld/dag-json'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { HddmError } from '../../src/hddm-error.js'

/** What the code under test answered: `accept` is also "decoded"; `typed-error` a named hddm error. */
export type Outcome = 'accept' | 'reject' | 'ignore' | 'typed-error'

/** A broken property other than a thrown error: an answer outside the protocol, or a wrong one. */
export class FuzzFailure extends Error {
  override name = 'FuzzFailure'
}

export interface FuzzTarget<T = any> {
  name: string
  arbitrary: fc.Arbitrary<T>
  /** Runs one input; throws (FuzzFailure or the untyped error itself) only on a bug. */
  run: (input: T) => Outcome | Promise<Outcome>
}

/** Runs per target in the tests: HDDM_FUZZ_RUNS, else `fallback`. */
export function fuzzRuns (fallback = 200): number {
  const runs = Number(process.env.HDDM_FUZZ_RUNS)
  return Number.isSafeInteger(runs) && runs > 0 ? runs : fallback
}

/** One seed for every target, so that CI runs the same inputs each time (HDDM_FUZZ_SEED overrides). */
export function fuzzSeed (): number {
  const seed = Number(process.env.HDDM_FUZZ_SEED)
  return Number.isSafeInteger(seed) ? seed : 0x4844_4d
}

/** A thrown error as the property sees it: hddm's named classes are answers, anything else a crash. */
export function classify (err: unknown): 'typed-error' {
  if (err instanceof HddmError) return 'typed-error'
  throw err
}

/** Calls `fn`: its result on success (`accept` unless it says otherwise), `typed-error` for hddm's errors. */
export function typed (fn: () => Outcome | void): Outcome {
  try {
    return fn() ?? 'accept'
  } catch (err) {
    return classify(err)
  }
}

export async function typedAsync (fn: () => Promise<Outcome | void>): Promise<Outcome> {
  try {
    return (await fn()) ?? 'accept'
  } catch (err) {
    return classify(err)
  }
}

/** Requires an error to be one named class (and code), not merely any hddm error. */
export function expectError (err: unknown, name: string, codes?: readonly string[]): void {
  if (!(err instanceof HddmError) || err.name !== name) throw err
  const code = (err as { code?: unknown }).code
  if (codes !== undefined && !codes.includes(String(code))) {
    throw new FuzzFailure(`${name} with unexpected code ${String(code)}`)
  }
}

export interface TargetStats {
  name: string
  runs: number
  accept: number
  reject: number
  ignore: number
  'typed-error': number
  crashes: number
  ms: number
  /** The slowest single input, ms, and what it was. */
  slowestMs: number
  slowestInput?: string
  firstCrash?: string
}

export interface FuzzOptions {
  numRuns: number
  seed: number
  /** An input that takes longer than this is a hang (default 5 s). */
  hangMs?: number
  /** Tests stop at the first crash and report the shrunk input; the benchmark counts and goes on. */
  stopOnCrash?: boolean
}

/**
 * Feeds `numRuns` generated inputs to a target and counts the answers. Unhandled rejections and
 * uncaught exceptions while it runs are crashes of this target.
 */
export async function fuzzTarget<T> (target: FuzzTarget<T>, options: FuzzOptions): Promise<TargetStats> {
  const stats: TargetStats = {
    name: target.name, runs: 0, accept: 0, reject: 0, ignore: 0, 'typed-error': 0, crashes: 0, ms: 0, slowestMs: 0
  }
  const hangMs = options.hangMs ?? 5000
  const stray: unknown[] = []
  const onStray = (err: unknown): void => { stray.push(err) }
  process.on('unhandledRejection', onStray)
  process.on('uncaughtException', onStray)
  const crash = (err: unknown, input: T): void => {
    stats.crashes++
    stats.firstCrash ??= `${describeError(err)} on input ${describeInput(input)}`
    if (options.stopOnCrash === true) throw err
  }
  const property = fc.asyncProperty(target.arbitrary, async (input) => {
    const started = performance.now()
    stats.runs++
    try {
      const outcome = await target.run(input)
      if (!['accept', 'reject', 'ignore', 'typed-error'].includes(outcome)) {
        throw new FuzzFailure(`answered ${String(outcome)}`)
      }
      stats[outcome]++
    } catch (err) {
      crash(err, input)
    }
    const took = performance.now() - started
    if (took > stats.slowestMs) {
      stats.slowestMs = took
      stats.slowestInput = describeInput(input)
    }
    if (took > hangMs) crash(new FuzzFailure(`took ${Math.round(took)} ms (a hang)`), input)
    if (stray.length > 0) crash(stray.splice(0)[0], input)
  })
  const started = performance.now()
  try {
    await fc.assert(property, { numRuns: options.numRuns, seed: options.seed, endOnFailure: true })
  } finally {
    stats.ms = performance.now() - started
    // Late rejections from the last input still count against this target.
    await new Promise((resolve) => setTimeout(resolve, 10))
    process.off('unhandledRejection', onStray)
    process.off('uncaughtException', onStray)
  }
  if (stray.length > 0) {
    stats.crashes += stray.length
    stats.firstCrash ??= `${describeError(stray[0])} after the last input`
    if (options.stopOnCrash === true) throw stray[0]
  }
  return stats
}

function describeError (err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message.slice(0, 300)}` : String(err)
}

function describeInput (input: unknown): string {
  try {
    return fc.stringify(input).slice(0, 400)
  } catch {
    return '(unprintable)'
  }
}

// ---------------------------------------------------------------------------------------------
// Byte-level mutation

/** A length field of a format, so that mutations can make it lie. */
export interface LengthField {
  /** Byte offsets of such fields in a given encoding (a format may have several, e.g. PNG chunks). */
  offsets: (bytes: Uint8Array) => number[]
  size: 1 | 2 | 4 | 8
  littleEndian: boolean
}

type ByteMutation =
  | { kind: 'flip', at: number, bit: number }
  | { kind: 'set', at: number, value: number }
  | { kind: 'truncate', at: number }
  | { kind: 'extend', bytes: Uint8Array }
  | { kind: 'insert', at: number, bytes: Uint8Array }
  | { kind: 'delete', at: number, length: number }
  | { kind: 'repeat', at: number, length: number, times: number }
  | { kind: 'length-lie', field: number, which: number, value: bigint }

/** Bytes that mean something to a parser: NUL, sign bits, quotes, brackets, digits, `e`. */
const interestingByte = fc.constantFrom(
  0x00, 0x01, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x2d, 0x30, 0x39, 0x65, 0x20
)
/** Lengths that break naive readers: zero, off by one, sign bits, past 2^32 and 2^53, u64 max. */
const lie = fc.oneof(
  fc.constantFrom(
    0n, 1n, 7n, 8n, 255n, 256n, 4095n, 4096n, 4097n, 65535n, 2n ** 20n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n,
    2n ** 32n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n
  ),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
)
const position = fc.nat({ max: 1 << 20 })

const kind = <K extends ByteMutation['kind']>(k: K): fc.Arbitrary<K> => fc.constant(k)
const someBytes = (maxLength: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: 1, maxLength })
const anyByte = fc.nat(255)

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: kind('flip'), at: position, bit: fc.nat({ max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: kind('set'), at: position, value: fc.oneof(interestingByte, anyByte) }) },
  { weight: 2, arbitrary: fc.record({ kind: kind('truncate'), at: position }) },
  { weight: 1, arbitrary: fc.record({ kind: kind('extend'), bytes: someBytes(64) }) },
  { weight: 1, arbitrary: fc.record({ kind: kind('insert'), at: position, bytes: someBytes(16) }) },
  { weight: 1, arbitrary: fc.record({ kind: kind('delete'), at: position, length: fc.integer({ min: 1, max: 32 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: kind('repeat'),
      at: position,
      length: fc.integer({ min: 1, max: 16 }),
      times: fc.integer({ min: 2, max: 200 })
    })
  },
  { weight: 3, arbitrary: fc.record({ kind: kind('length-lie'), field: fc.nat(), which: fc.nat(), value: lie }) }
)

function applyByteMutation (bytes: Uint8Array, m: ByteMutation, fields: LengthField[]): Uint8Array {
  const at = (n: number): number => bytes.length === 0 ? 0 : n % bytes.length
  switch (m.kind) {
    case 'flip': {
      if (bytes.length === 0) return bytes
      const out = bytes.slice()
      out[at(m.at)] ^= 1 << m.bit
      return out
    }
    case 'set': {
      if (bytes.length === 0) return Uint8Array.of(m.value)
      const out = bytes.slice()
      out[at(m.at)] = m.value
      return out
    }
    case 'truncate': return bytes.slice(0, m.at % (bytes.length + 1))
    case 'extend': return concatBytes([bytes, m.bytes])
    case 'insert': return concatBytes([bytes.subarray(0, at(m.at)), m.bytes, bytes.subarray(at(m.at))])
    case 'delete': return concatBytes([bytes.subarray(0, at(m.at)), bytes.subarray(at(m.at) + m.length)])
    case 'repeat': {
      const slice = bytes.subarray(at(m.at), at(m.at) + m.length)
      const copies = Array.from({ length: m.times }, () => slice)
      return concatBytes([bytes.subarray(0, at(m.at)), ...copies, bytes.subarray(at(m.at))])
    }
    case 'length-lie': {
      if (fields.length === 0) return bytes
      const field = fields[m.field % fields.length]
      const offsets = field.offsets(bytes).filter((o) => o + field.size <= bytes.length)
      if (offsets.length === 0) return bytes
      const out = bytes.slice()
      writeUint(out, offsets[m.which % offsets.length], field.size, field.littleEndian, m.value)
      return out
    }
  }
}

function writeUint (out: Uint8Array, offset: number, size: number, littleEndian: boolean, value: bigint): void {
  const v = BigInt.asUintN(size * 8, value)
  for (let i = 0; i < size; i++) {
    const byte = Number((v >> BigInt(8 * i)) & 0xffn)
    out[offset + (littleEndian ? i : size - 1 - i)] = byte
  }
}

/** 1 to 4 byte-level mutations of a valid encoding. */
export function mutatedBytes (valid: fc.Arbitrary<Uint8Array>, fields: LengthField[] = []): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.array(byteMutation, { minLength: 1, maxLength: 4 }))
    .map(([bytes, mutations]) => mutations.reduce((b, m) => applyByteMutation(b, m, fields), bytes))
}

/** `usual` `odds` times out of odds + 1, else `rare`. */
export function rarely<T> (usual: fc.Arbitrary<T>, rare: fc.Arbitrary<T>, odds = 8): fc.Arbitrary<T> {
  return fc.oneof({ weight: odds, arbitrary: usual }, { weight: 1, arbitrary: rare })
}

export function concatBytes (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

// ---------------------------------------------------------------------------------------------
// Structure-aware mutation

/** Numbers that break naive range checks. */
export const nastyNumber = fc.constantFrom(
  Number.NaN, Infinity, -Infinity, -1, -0, 0, 0.5, -0.5, 1e-320, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2,
  2 ** 64, 1e21, 1e308, -1e308, Number.MAX_VALUE, Number.EPSILON
)

/** Strings that break naive parsers: empty, control characters, lone surrogates, 10 000 characters. */
export const nastyString = fc.oneof(
  fc.constantFrom(
    '', ' ', '\u0000', '\ud800', '\uffff', 'a'.repeat(10_000), '../../etc/passwd', 'NaN', '1e999', '-0', '__proto__',
    'bafkreifuofrrg524xcmrcmpqoftbmxn6hshlmy5pl22q2umfi5k4nmjw5q', 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG',
    'top0', 'threshold:2'
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 })
)

/**
 * Objects that break naive formatting (`String(x)`, template literals) and prototype lookups;
 * made fresh for every input, since later mutations may change them.
 */
export const nastyObject: fc.Arbitrary<unknown> = fc.constantFrom<() => unknown>(
  () => ({ toString: 1 }), () => ({ valueOf: 'x', toString: null }), () => Object.create(null),
  () => ({ constructor: 1 }), () => ({ '/': 'not a cid' }), () => ({ '/': { bytes: 'AAAA' } }), () => ({ length: 1e9 }),
  () => [], () => [[[]]], () => ({})
).map((make) => make())

/** Values as JSON can carry them (dag-json can carry all but the non-finite numbers). */
export const jsonNasty: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: nastyNumber },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 3, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: nastyObject },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 400 }).map((depth) => nest(0, depth)) }
)

/** Anything JavaScript has, for functions that take `unknown` (bigints, null prototypes, typed arrays...). */
export const anyNasty: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: jsonNasty },
  {
    weight: 1,
    arbitrary: fc.anything({
      maxDepth: 3, withBigInt: true, withNullPrototype: true, withTypedArray: true, withBoxedValues: true,
      withMap: true, withSet: true, withDate: true, withSparseArray: true
    })
  },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, Symbol('s'), () => 1, new Uint8Array(3), 10n ** 30n) }
)

/** A value nested `depth` levels deep in arrays or objects. */
export function nest (value: unknown, depth: number, inObjects = depth % 2 === 0): unknown {
  let v = value
  for (let i = 0; i < depth; i++) v = inObjects ? { a: v } : [v]
  return v
}

type Path = Array<string | number>
type ValueMutation =
  | { kind: 'replace', path: number, value: unknown }
  | { kind: 'delete', path: number }
  | { kind: 'extra-key', path: number, key: string, value: unknown }
  | { kind: 'wrap', path: number, depth: number }
  | { kind: 'grow', path: number, times: number }

const extraKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'toString', 'x', '', '/', 'a'.repeat(300)),
  fc.string({ maxLength: 12 })
)

const op = <K extends ValueMutation['kind']>(k: K): fc.Arbitrary<K> => fc.constant(k)

function valueMutation (nasty: fc.Arbitrary<unknown>): fc.Arbitrary<ValueMutation> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: op('replace'), path: fc.nat(), value: nasty }) },
    { weight: 2, arbitrary: fc.record({ kind: op('delete'), path: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: op('extra-key'), path: fc.nat(), key: extraKey, value: nasty }) },
    { weight: 1, arbitrary: fc.record({ kind: op('wrap'), path: fc.nat(), depth: fc.integer({ min: 1, max: 300 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: op('grow'), path: fc.nat(), times: fc.integer({ min: 2, max: 2000 }) }) }
  )
}

/** 1 to 3 mutations of `base` (never changed itself): fields replaced, deleted, added, nested, repeated. */
export function mutatedValue (base: fc.Arbitrary<unknown>, nasty = jsonNasty): fc.Arbitrary<unknown> {
  return fc.tuple(base, fc.array(valueMutation(nasty), { minLength: 1, maxLength: 3 }))
    .map(([value, mutations]) => mutations.reduce(applyValueMutation, clone(value)))
}

function applyValueMutation (root: unknown, m: ValueMutation): unknown {
  const paths = pathsOf(root)
  const path = paths[m.path % paths.length]
  const target = get(root, path)
  switch (m.kind) {
    case 'replace': return set(root, path, m.value)
    case 'delete': return path.length === 0 ? undefined : remove(root, path)
    case 'extra-key': {
      if (!isPlainObject(target)) return root
      defineKey(target, m.key, m.value)
      return root
    }
    case 'wrap': return set(root, path, nest(target, m.depth))
    case 'grow': {
      if (!Array.isArray(target) || target.length === 0) return root
      // Copies, not shared references (a later mutation of a shared element would be multiplied),
      // capped at about 100 000 values or 6 MB of text: past every decoder's size cap, within ours.
      const times = Math.max(1, Math.min(m.times, Math.floor(100_000 / nodeCount(target, 100_000))))
      return set(root, path, Array.from({ length: times }, (_, i) => clone(target[i % target.length])))
    }
  }
}

/** Objects the mutations walk into: plain ones (boxed values, typed arrays and CIDs are leaves). */
/** Values in `value`, strings and bytes by the 64 characters (shared ones each time they appear), up to `cap`. */
function nodeCount (value: unknown, cap: number): number {
  let n = 0
  const visit = (v: unknown): void => {
    n += typeof v === 'string' || v instanceof Uint8Array ? 1 + Math.floor(v.length / 64) : 1
    if (n >= cap) return
    if (Array.isArray(v)) for (const e of v) { visit(e); if (n >= cap) return }
    else if (isPlainObject(v)) for (const e of Object.values(v)) { visit(e); if (n >= cap) return }
  }
  visit(value)
  return Math.min(n, cap)
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false
  const proto = Object.getPrototypeOf(v)
  return (proto === Object.prototype || proto === null) && CID.asCID(v) == null
}

function pathsOf (value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix)
  if (out.length > 2000) return out
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...prefix, i], out))
  else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out)
  return out
}

function defineKey (target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true })
}

function get (root: unknown, path: Path): unknown {
  let v = root
  for (const key of path) v = (v as Record<string | number, unknown>)[key]
  return v
}

function set (root: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value
  const parent = get(root, path.slice(0, -1)) as Record<string | number, unknown>
  defineKey(parent, path[path.length - 1], value)
  return root
}

function remove (root: unknown, path: Path): unknown {
  const parent = get(root, path.slice(0, -1))
  const key = path[path.length - 1]
  if (Array.isArray(parent)) parent.splice(key as number, 1)
  else delete (parent as Record<string | number, unknown>)[key]
  return root
}

/** A deep copy that keeps CIDs and byte arrays as they are (structuredClone would strip CIDs). */
export function clone<T> (value: T): T {
  if (Array.isArray(value)) return value.map(clone) as T
  if (value instanceof Uint8Array) return value.slice() as T
  if (!isPlainObject(value)) return value
  const out: Record<string, unknown> = {}
  // defineProperty, not assignment: a `__proto__` key stays a key instead of replacing the prototype.
  for (const [k, v] of Object.entries(value)) defineKey(out, k, clone(v))
  return out as T
}

// ---------------------------------------------------------------------------------------------
// Encoding mutated values

/**
 * dag-json bytes of a mutated value: canonical where dag-json can say it, else JSON text that a
 * hostile peer could send anyway (`NaN`, `1e999`, `undefined`, unsorted keys).
 */
export function toDagJsonBytes (value: unknown): Uint8Array {
  try {
    return dagJson.encode(value)
  } catch {
    return new TextEncoder().encode(looseJson(value))
  }
}

const unpadded = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64').replace(/=+$/, '')

/** JSON text of any value, writing what JSON cannot say the way a careless encoder would. */
export function looseJson (value: unknown): string {
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN'
    if (!Number.isFinite(value)) return value > 0 ? '1e999' : '-1e999'
    return Object.is(value, -0) ? '-0' : String(value)
  }
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'boolean' || value === null) return String(value)
  if (value === undefined) return 'undefined'
  if (value instanceof Uint8Array) return `{"/":{"bytes":"${unpadded(value)}"}}`
  const cid = CID.asCID(value)
  if (cid != null) return `{"/":"${cid.toString()}"}`
  if (Array.isArray(value)) return `[${value.map(looseJson).join(',')}]`
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>
    const fields = Object.keys(record).sort().map((k) => `${JSON.stringify(k)}:${looseJson(record[k])}`)
    return `{${fields.join(',')}}`
  }
  return 'null'
}

/** Raw text that no structured value gives: deep nesting, bad escapes, unterminated input. */
export const hostileText: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.integer({ min: 1, max: 20_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.integer({ min: 1, max: 20_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  fc.integer({ min: 1, max: 5000 }).map((n) => '['.repeat(n)),
  fc.constantFrom(
    '', '{', '}', '"', '{"/":', '{"/":"bafy"}', '{"/":{"bytes":"!!!"}}', '{"a":1,"a":2}', '\ufeff{}', '{"\\ud800":1}',
    '"\\u00"', '1e999', '-', '{"a":NaN}', 'null', 'true', '[1,]', '{"v":1}garbage', '{"v":1} ', ' {"v":1}',
    '{"__proto__":{"x":1}}'
  ),
  fc.string({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v))
).map((text) => new TextEncoder().encode(text))

/**
 * The tests' use of a target: `fuzzRuns()` inputs from the fixed seed, stopping at the first crash
 * with fast-check's shrunk counterexample (rerun it with HDDM_FUZZ_SEED and the printed seed).
 * Returns the counts, which must show the generator reaching past the first check.
 */
export async function fuzzForTest (target: FuzzTarget, hangMs?: number): Promise<TargetStats> {
  const stats = await fuzzTarget(target, { numRuns: fuzzRuns(), seed: fuzzSeed(), hangMs, stopOnCrash: true })
  if (stats.crashes > 0) throw new FuzzFailure(`${target.name}: ${stats.firstCrash ?? 'crashed'}`)
  return stats
}
