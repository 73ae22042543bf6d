/**
 * The layout rules of docs/ARCHITECTURE.md, checked on every run: imports point down the
 * layers written there (the table is read from that file, so the rule is written once), no
 * module imports itself through a cycle, and source lines stay readable.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '..')
const MAX_LINE = 120
const MAX_SOURCE_LINES = 300

function filesUnder (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (name === 'node_modules' || name === 'build') return []
    return statSync(path).isDirectory() ? filesUnder(path) : path.endsWith('.ts') ? [path] : []
  })
}

/** Relative module specifiers of static imports, re-exports and dynamic imports, resolved to .ts paths. */
function importsOf (file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const statics = /(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*'(\.[^']+)'/g
  const dynamics = /import\(\s*'(\.[^']+)'\s*\)/g
  const specifiers = [...text.matchAll(statics), ...text.matchAll(dynamics)].map((m) => m[1])
  return specifiers.map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts'))
}

interface Layers {
  /** layer -> the layers it may import ('*': any). */
  allowed: Map<string, Set<string>>
  /** Files directly under src/ that belong to a named layer (`base = logger.ts ...`). */
  members: Map<string, string>
}

/** The fenced `layers` block of docs/ARCHITECTURE.md: `layer -> layers...` and `layer = files...` lines. */
function readLayers (): Layers {
  const doc = readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8')
  const block = /```layers\n([\s\S]*?)```/.exec(doc)?.[1]
  if (block === undefined) throw new Error('docs/ARCHITECTURE.md has no ```layers block')
  const layers: Layers = { allowed: new Map(), members: new Map() }
  for (const line of block.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const [layer, rest] = line.split(/->|=/).map((s) => s.trim())
    const words = rest === undefined || rest === '' ? [] : rest.split(/\s+/)
    if (line.includes('->')) layers.allowed.set(layer, new Set(words))
    else for (const file of words) layers.members.set(file, layer)
  }
  return layers
}

/** The layer of a source file: its folder under src/, or for a file directly in src/ its group or own name. */
function layerOf (file: string, layers: Layers): string {
  const parts = relative(join(root, 'src'), file).split('/')
  return parts.length > 1 ? parts[0] : layers.members.get(parts[0]) ?? parts[0].replace(/\.ts$/, '')
}

/** Import cycles among files (Tarjan's strongly connected components of size > 1, or self-imports). */
function cycles (graph: Map<string, string[]>): string[][] {
  let index = 0
  const indices = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const visit = (v: string): void => {
    indices.set(v, index)
    low.set(v, index++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!))
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component)
    }
  }
  for (const v of graph.keys()) if (!indices.has(v)) visit(v)
  return found
}

const sources = filesUnder(join(root, 'src'))

describe('the layout of src/', () => {
  it('imports only point down the layers of docs/ARCHITECTURE.md', () => {
    const layers = readLayers()
    const wrong: string[] = []
    for (const file of sources) {
      const from = layerOf(file, layers)
      const allowed = layers.allowed.get(from)
      if (allowed === undefined) {
        wrong.push(`${relative(root, file)}: layer "${from}" is not in the layers table`)
        continue
      }
      for (const target of importsOf(file)) {
        const to = layerOf(target, layers)
        if (to === from || allowed.has(to) || allowed.has('*')) continue
        wrong.push(`${relative(root, file)} -> ${relative(root, target)} (${from} -> ${to})`)
      }
    }
    expect(wrong).toEqual([])
  })

  it('has no import cycles', () => {
    const graph = new Map(sources.map((file) => [file, importsOf(file)]))
    const found = cycles(graph).map((c) => c.map((f) => relative(root, f)).sort().join(' <-> '))
    expect(found).toEqual([])
  })

  it(`keeps source lines under ${MAX_LINE} characters and files under ${MAX_SOURCE_LINES} lines`, () => {
    const long: string[] = []
    for (const file of [...sources, ...filesUnder(join(root, 'test'))]) {
      const lines = readFileSync(file, 'utf8').split('\n')
      const name = relative(root, file)
      lines.forEach((line, i) => { if (line.length > MAX_LINE) long.push(`${name}:${i + 1} (${line.length})`) })
      const count = lines.at(-1) === '' ? lines.length - 1 : lines.length
      if (name.startsWith('src/') && count > MAX_SOURCE_LINES) long.push(`${name}: ${count} lines`)
    }
    expect(long).toEqual([])
  })
})
