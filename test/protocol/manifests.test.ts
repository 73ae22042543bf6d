import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  decodeEnsembleManifest, encodeEnsembleManifest, ensembleIdOf, type EnsembleManifestInput
} from '../../src/protocol/ensemble-manifest.js'
import {
  budgetOf, decodeResolvedRunManifest, encodeResolvedRunManifest, parseResolvedRunManifest, parseRunManifest,
  parseRunManifestJson, runIdOf, type RunManifest
} from '../../src/protocol/run-manifest.js'
import { planTasks } from '../../src/protocol/task-plan.js'
import { fileCidFor, runCidFor } from './fixtures.js'

const DIR = join(import.meta.dirname, '../../manifests')
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'))
const read = (file: string): RunManifest => parseRunManifestJson(readFileSync(join(DIR, file), 'utf8'))

/**
 * A fixed resolved manifest (not read from manifests/, which will be tuned): K=2 with made-up
 * shard CIDs. Its CID is hard-coded below, so any change to the canonical encoding shows up.
 */
async function resolvedFixture (): Promise<Record<string, any>> {
  const shards = await Promise.all([0, 1].map(async (cluster) => ({
    cluster,
    train: await fileCidFor(`train-${cluster}`),
    heldOut: await fileCidFor(`held-out-${cluster}`),
    trainCount: 2850,
    heldOutCount: 150
  })))
  return {
    v: 1,
    name: 'fixture-k2',
    dataset: { kind: 'mnist', limit: 3000 },
    k: 2,
    seed: 7,
    clustering: { features: 'pca' },
    tasks: [
      { id: 'expert-0', kind: 'expert', cluster: 0, objective: 'ddpm' },
      { id: 'expert-1', kind: 'expert', cluster: 1, objective: 'fm', init: { fromTask: 'expert-0' } },
      { id: 'router', kind: 'router' }
    ],
    model: { expert: 'tiny', router: 'router-tiny' },
    training: {
      expert: { steps: 10, batchSize: 8, lr: 0.001, checkpointEvery: 5 },
      router: { steps: 10, batchSize: 8, lr: 0.001, checkpointEvery: 5 }
    },
    replicas: 1,
    eval: { heldOutLossMax: { ddpm: 0.9, fm: 1.6 } },
    resolved: { shards, frequencies: [0.625, 0.375], dataDigest: 'a'.repeat(64), tokenizerDigest: 'b'.repeat(64) }
  }
}

function expectInvalidManifest (fn: () => unknown): string[] {
  try {
    fn()
  } catch (err) {
    expect((err as Error).name).toBe('InvalidManifestError')
    return (err as { issues: string[] }).issues
  }
  throw new Error('expected InvalidManifestError')
}

describe('manifests/', () => {
  it('has the default and paper runs', () => {
    expect(files).toEqual(expect.arrayContaining(['default.json', 'paper.json']))
  })

  for (const file of files) {
    it(`${file} satisfies the run manifest schema`, () => {
      expect(() => read(file)).not.toThrow()
    })
  }

  it('default.json: MNIST, 4 encoder clusters, 1 DDPM (longer, min-SNR) : 3 FM mini experts, a prompt router', () => {
    const m = read('default.json')
    expect(m).toMatchObject({
      k: 4, dataset: { kind: 'mnist' }, clustering: { features: 'encoder' },
      model: { expert: 'mini', router: 'router-tiny' }
    })
    // The planTasks layout, with the DDPM expert's own longer budget.
    const isDdpmExpert = (t: { kind: string, objective?: string }): boolean =>
      t.kind === 'expert' && t.objective === 'ddpm'
    const tasks = m.tasks.map((t) => isDdpmExpert(t) ? { ...t, steps: undefined } : t)
    const planned = planTasks(4, 1).map((t) => ({ ...t, ...(isDdpmExpert(t) ? { steps: undefined } : {}) }))
    expect(tasks).toEqual(planned)
    expect(m.tasks[0]).toMatchObject({ objective: 'ddpm', steps: 2 * m.training.expert.steps })
    expect(m.training.expert.minSnrGamma).toBe(5)
  })

  it('paper.json is K=8 with 2 DDPM : 6 FM on xl2 and router-b2', () => {
    const m = read('paper.json')
    expect(m).toMatchObject({ k: 8, model: { expert: 'xl2', router: 'router-b2' } })
    expect(m.tasks).toEqual(planTasks(8, 2, 'none'))
    const objectives = m.tasks.flatMap((t) => t.kind === 'expert' ? [t.objective] : [])
    expect(objectives.filter((o) => o === 'ddpm')).toHaveLength(2)
    expect(objectives.filter((o) => o === 'fm')).toHaveLength(6)
  })
})

describe('run manifest schema', () => {
  const base = (): Record<string, any> => JSON.parse(readFileSync(join(DIR, 'default.json'), 'utf8'))

  it('fills in defaults', () => {
    const { replicas, leaseMs, maxTasksPerPeer, ...rest } = base()
    const m = parseRunManifest(rest)
    const defaults = { replicas: m.replicas, maxTasksPerPeer: m.maxTasksPerPeer, leaseMs: m.leaseMs }
    expect(defaults).toEqual({ replicas: 1, maxTasksPerPeer: 1, leaseMs: 120_000 })
  })

  it('rejects cross-field mistakes with one issue per problem', () => {
    const dup = base()
    dup.tasks[1].id = 'expert-0'
    expect(expectInvalidManifest(() => parseRunManifest(dup)).join()).toMatch(/tasks\.1\.id/)
    const noRouter = base()
    noRouter.tasks.pop()
    expectInvalidManifest(() => parseRunManifest(noRouter))
    const uncovered = base()
    uncovered.tasks.splice(3, 1)
    expectInvalidManifest(() => parseRunManifest(uncovered))
    const outside = base()
    outside.tasks[3].cluster = 4
    expectInvalidManifest(() => parseRunManifest(outside))
    const ddpmInit = base()
    ddpmInit.tasks[0].init = { fromTask: 'expert-2' }
    expectInvalidManifest(() => parseRunManifest(ddpmInit))
    const fmFromFm = base()
    fmFromFm.tasks[1].init = { fromTask: 'expert-3' }
    expectInvalidManifest(() => parseRunManifest(fmFromFm))
  })

  it('accepts a flow-matching expert initialised from a DDPM task', () => {
    const m = base()
    m.tasks[1].init = { fromTask: 'expert-0' }
    expect(parseRunManifest(m).tasks[1]).toMatchObject({ init: { fromTask: 'expert-0', timeMap: 'snr' } })
  })

  it('needs the encoder pinned by CID for encoder features, and takes pixel PCA without one', () => {
    const unpinned = base()
    unpinned.clustering = { features: 'encoder' }
    expect(expectInvalidManifest(() => parseRunManifest(unpinned)).join()).toMatch(/clustering\.encoder/)
    const defaulted = base()
    delete defaulted.clustering
    expectInvalidManifest(() => parseRunManifest(defaulted))
    const badCid = base()
    badCid.clustering.encoder.cid = 'not-a-cid'
    expectInvalidManifest(() => parseRunManifest(badCid))
    const pca = parseRunManifest({ ...base(), clustering: { features: 'pca' } }).clustering
    expect(pca).toMatchObject({ features: 'pca', dims: 32 })
  })

  it('reads the prompt in the router by default, and takes the paper\'s prompt-blind router on request', () => {
    const m = base()
    delete m.tasks[4].conditioning
    expect(parseRunManifest(m).tasks[4]).toMatchObject({ kind: 'router', conditioning: 'prompt' })
    m.tasks[4].conditioning = 'none'
    expect(parseRunManifest(m).tasks[4]).toMatchObject({ conditioning: 'none' })
    m.tasks[4].conditioning = 'class'
    expectInvalidManifest(() => parseRunManifest(m))
  })

  it('gives a task its own steps when it sets them', () => {
    const m = parseRunManifest(base())
    const ddpm = m.tasks.find((t) => t.kind === 'expert' && t.objective === 'ddpm')!
    const fm = m.tasks.find((t) => t.kind === 'expert' && t.objective === 'fm')!
    expect(budgetOf(m, fm).steps).toBe(m.training.expert.steps)
    expect(budgetOf(m, { ...ddpm, steps: 77 } as typeof ddpm)).toMatchObject({ ...m.training.expert, steps: 77 })
    expect(budgetOf(m, m.tasks.find((t) => t.kind === 'router')!)).toEqual(m.training.router)
  })

  it('rejects unknown presets, unknown fields and bad JSON', () => {
    const preset = base()
    preset.model.expert = 'huge'
    expectInvalidManifest(() => parseRunManifest(preset))
    expectInvalidManifest(() => parseRunManifest({ ...base(), surprise: true }))
    expectInvalidManifest(() => parseRunManifestJson('{"v": 1,'))
  })
})

describe('resolved run manifest and run id', () => {
  it('has a stable CID: same manifest, same run id everywhere', async () => {
    const cid = await runIdOf(parseResolvedRunManifest(await resolvedFixture()))
    expect(cid.toString()).toBe('baguqeeramwempinepg2unvl2r5tllixljqvjrawgufi3lavx7h7jfz2bjwtq')
  })

  it('does not depend on key order or on defaults being written out', async () => {
    const input = await resolvedFixture()
    const a = await runIdOf(parseResolvedRunManifest(input))
    const { replicas, ...withoutDefault } = input
    const reordered = Object.fromEntries(Object.entries(withoutDefault).reverse())
    expect((await runIdOf(parseResolvedRunManifest(reordered))).equals(a)).toBe(true)
  })

  it('round-trips through dag-json with links intact', async () => {
    const m = parseResolvedRunManifest(await resolvedFixture())
    const back = decodeResolvedRunManifest(encodeResolvedRunManifest(m))
    expect(back).toEqual(m)
    expect(back.resolved.shards[1].train.equals(m.resolved.shards[1].train)).toBe(true)
  })

  it('rejects shards that do not cover every cluster and frequencies that do not sum to 1', async () => {
    const m = await resolvedFixture()
    const missingCluster = { ...m, resolved: { ...m.resolved, shards: m.resolved.shards.slice(1) } }
    expectInvalidManifest(() => parseResolvedRunManifest(missingCluster))
    const frequenciesOverOne = { ...m, resolved: { ...m.resolved, frequencies: [0.5, 0.6] } }
    expectInvalidManifest(() => parseResolvedRunManifest(frequenciesOverOne))
    expectInvalidManifest(() => decodeResolvedRunManifest(new TextEncoder().encode('not json')))
  })
})

describe('ensemble manifest', () => {
  async function ensemble (): Promise<EnsembleManifestInput> {
    const objectives = ['ddpm', 'fm', 'ddpm', 'fm'] as const
    return {
      v: 1,
      run: await runCidFor('run'),
      k: 4,
      router: await fileCidFor('router'),
      experts: await Promise.all([3, 1, 0, 2].map(async (cluster) => ({
        cid: await fileCidFor(`expert-${cluster}`), cluster, objective: objectives[cluster]
      })))
    }
  }

  it('names the model by a stable CID, whatever order the experts are listed in', async () => {
    const e = await ensemble()
    const id = await ensembleIdOf(e)
    expect(id.toString()).toBe('baguqeerawrybic7y3ze7cj7flbnwungijzoyl5k4722ulddlkcxmsarktpsq')
    expect((await ensembleIdOf({ ...e, experts: [...e.experts].reverse(), routing: 'full' })).equals(id)).toBe(true)
    expect((await ensembleIdOf({ ...e, routing: 'top2' })).equals(id)).toBe(false)
  })

  it('round-trips through dag-json, experts in cluster order', async () => {
    const back = decodeEnsembleManifest(encodeEnsembleManifest(await ensemble()))
    expect(back.experts.map((x) => x.cluster)).toEqual([0, 1, 2, 3])
    expect(back.routing).toBe('full')
  })

  it('rejects two experts for one cluster, a cluster outside K, a non-file checkpoint and bad routing', async () => {
    const e = await ensemble()
    expectInvalidManifest(() => encodeEnsembleManifest({ ...e, experts: [...e.experts, e.experts[0]] }))
    expectInvalidManifest(() => encodeEnsembleManifest({ ...e, k: 3 }))
    expectInvalidManifest(() => encodeEnsembleManifest({ ...e, router: e.run }))
    expectInvalidManifest(() => encodeEnsembleManifest({ ...e, routing: 'top0' }))
    const routing = decodeEnsembleManifest(encodeEnsembleManifest({ ...e, routing: 'threshold:0.050' })).routing
    expect(routing).toBe('threshold:0.05')
  })
})
