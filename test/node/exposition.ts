/**
 * A strict parser of Prometheus' text exposition format (version 0.0.4), for tests that scrape
 * a node: anything a Prometheus server would refuse, or that the format leaves ambiguous, throws.
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface MetricFamily {
  name: string
  type: MetricType
  help?: string
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

export class ExpositionError extends Error {
  override readonly name = 'ExpositionError'
}

/** Families by name, in the order they appear. */
export function parseExposition (text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>()
  const series = new Set<string>()
  /** Families whose samples have ended: another family's sample came after them. */
  const closed = new Set<string>()
  const typed = new Set<string>()
  let current: MetricFamily | undefined
  if (text !== '' && !text.endsWith('\n')) throw new ExpositionError('the text does not end with a line feed')
  const lines = text.split('\n').slice(0, -1)
  lines.forEach((line, index) => {
    const fail = (why: string): never => { throw new ExpositionError(`line ${index + 1}: ${why}: ${line}`) }
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (meta === null) return // a comment
      const [, kind, name, rest] = meta
      if (!METRIC_NAME.test(name)) fail('bad metric name')
      if (closed.has(name)) fail('metadata apart from the family\'s other lines')
      const family = families.get(name) ?? { name, type: 'untyped', samples: [] }
      if (family.samples.length > 0) fail('metadata after the family\'s samples')
      if (kind === 'HELP') {
        if (family.help !== undefined) fail('a second HELP')
        family.help = unescape(rest, false, fail)
      } else {
        if (!TYPES.has(rest)) fail('unknown type')
        if (typed.has(name)) fail('a second TYPE')
        typed.add(name)
        family.type = rest as MetricType
      }
      if (current !== undefined && current.name !== name) closed.add(current.name)
      families.set(name, family)
      current = family
      return
    }
    const sample = parseSample(line, fail)
    const family = familyOf(sample.name, families)
    // Stricter than the format, which allows untyped samples: prom-client always writes a TYPE.
    if (family === undefined || !typed.has(family.name)) fail('a sample of a family with no TYPE')
    if (family !== current) fail('a sample apart from its family\'s other lines')
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`
    if (series.has(key)) fail('the same series twice')
    series.add(key)
    family!.samples.push(sample)
  })
  return families
}

/** The family a sample belongs to: its own name, or for histograms and summaries the name less its suffix. */
function familyOf (name: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const own = families.get(name)
  if (own !== undefined) return own
  const suffix = /^(.*)_(bucket|sum|count)$/.exec(name)
  if (suffix === null) return undefined
  const family = families.get(suffix[1])
  if (family === undefined) return undefined
  if (family.type === 'histogram' || (family.type === 'summary' && suffix[2] !== 'bucket')) return family
  return undefined
}

function parseSample (line: string, fail: (why: string) => never): Sample {
  const head = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{)?/.exec(line)
  if (head === null) return fail('no metric name')
  let rest = line.slice(head[0].length)
  const labels: Record<string, string> = {}
  if (head[2] === '{') {
    while (!rest.startsWith('}')) {
      const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,?)/.exec(rest)
      if (label === null || !LABEL_NAME.test(label[1])) return fail('a malformed label')
      if (Object.hasOwn(labels, label[1])) fail('a label twice')
      labels[label[1]] = unescape(label[2], true, fail)
      rest = rest.slice(label[0].length)
      if (label[3] === '' && !rest.startsWith('}')) fail('labels not separated by commas')
    }
    rest = rest.slice(1)
  }
  const tail = /^ (\S+)(?: (-?\d+))?$/.exec(rest)
  if (tail === null) return fail('no value')
  return { name: head[1], labels, value: parseValue(tail[1], fail) }
}

/**
 * A float as Prometheus reads one (Go's ParseFloat): the format writes `NaN`, `+Inf`, `-Inf`, and
 * the server also takes other cases of them, which prom-client relies on (it writes `Nan`).
 */
function parseValue (text: string, fail: (why: string) => never): number {
  if (/^nan$/i.test(text)) return NaN
  if (/^\+?inf$/i.test(text)) return Infinity
  if (/^-inf$/i.test(text)) return -Infinity
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return fail('a value that is not a float')
  return Number(text)
}

/** Label values escape `\\`, `\"` and `\n`; HELP text escapes `\\` and `\n`. */
function unescape (text: string, quoted: boolean, fail: (why: string) => never): string {
  return text.replace(/\\(.?)/g, (_, c: string) => {
    if (c === '\\') return '\\'
    if (c === 'n') return '\n'
    if (c === '"' && quoted) return '"'
    return fail(`an unknown escape \\${c}`)
  })
}

/** The value of the one series of `name` whose labels include `labels`; undefined when there is none. */
export function valueOf (families: Map<string, MetricFamily>, name: string,
  labels: Record<string, string> = {}): number | undefined {
  const family = familyOf(name, families)
  const matches = (family?.samples ?? []).filter((s) => s.name === name &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (matches.length > 1) throw new Error(`${matches.length} series of ${name} match ${JSON.stringify(labels)}`)
  return matches[0]?.value
}
