import { z } from 'zod'
import { silentLogger, type Logger } from '../logger.js'
import { formatCoverage } from '../node/coverage.js'
import { dashboardUrl, isLoopbackHost } from './address.js'
import { dashboardCharts } from './charts.js'
import { EnsembleShelf, type EnsembleEntry, type EnsembleShelfInit } from './ensembles.js'
import { DashboardRequestError } from './errors.js'
import { Gallery, type GalleryInit } from './gallery.js'
import { runPrompts, type RunPrompts } from './prompts.js'
import { DashboardServer } from './server.js'
import { DashboardState, type DashboardNode, type DashboardStateInit } from './state.js'
import type { TokenBucketInit } from './rate-limit.js'

export interface DashboardInit {
  /** Bind address. @default '127.0.0.1' */
  host?: string
  /** @default 0 (any free port; `url` says which) */
  port?: number
  /** Host names besides IP literals and localhost the page may be reached by (a DNS name in front of it). */
  allowedHosts?: string[]
  /** Shown as the page's title: `hddm-node` or `local swarm`. */
  title?: string
  /**
   * The sample gallery. `source: 'own'` (default) draws this node's checkpoints, `'run'` every
   * expert's newest (a swarm's dashboard); false: no gallery.
   */
  gallery?: false | (GalleryInit & { source?: 'own' | 'run' })
  /** Allow the sample action. @default true when bound to loopback, else false */
  sampling?: boolean
  ensembles?: Omit<EnsembleShelfInit, 'runId' | 'logger'>
  rateLimit?: TokenBucketInit
  state?: DashboardStateInit
  /** How often the coverage map and peers are read. @default 1000 */
  pollMs?: number
  /** How often peers' coverage maps and the held ensembles are refreshed while a page is open. @default 10_000 */
  refreshMs?: number
  logger?: Logger
}

export interface DashboardComponents {
  /** A started node; `attach` can give it later (simulate starts its page before its observer). */
  node?: DashboardNode
}

const SampleBody = z.strictObject({
  ensemble: z.string().max(128),
  prompt: z.string().max(256),
  seed: z.int().min(1).max(2 ** 31).optional()
})

export class Dashboard {
  readonly state: DashboardState
  private readonly init: DashboardInit
  private readonly log: Logger
  private readonly server: DashboardServer
  private readonly sampling: boolean
  private gallery?: Gallery
  private shelf?: EnsembleShelf
  private runPrompts?: RunPrompts
  private ensembles: EnsembleEntry[] = []
  private prompts: string[] = []
  private viewers = 0
  private timers: NodeJS.Timeout[] = []
  private refreshing = false

  constructor (init: DashboardInit, private readonly components: DashboardComponents = {}) {
    this.init = init
    this.log = (init.logger ?? silentLogger).child('dashboard')
    const host = init.host ?? '127.0.0.1'
    this.sampling = init.sampling ?? isLoopbackHost(host)
    this.state = new DashboardState(init.state)
    this.server = new DashboardServer({
      host, port: init.port ?? 0, allowedHosts: init.allowedHosts, rateLimit: init.rateLimit, logger: init.logger
    }, {
      snapshot: async () => this.snapshot(),
      coverageText: () => formatCoverage(this.state.coverage(), Date.now()).join('\n') + '\n',
      actions: { sample: async (body, signal) => await this.sample(body, signal) },
      viewers: (count) => { this.setViewers(count) }
    })
    this.state.addEventListener('update', (evt) => { this.server.broadcast(evt.detail.kind, evt.detail.data) })
  }

  /** The page's URL. */
  get url (): string {
    const { host, port } = this.server.address
    return dashboardUrl(host, port)
  }

  async start (): Promise<void> {
    await this.server.start()
    this.timers.push(setInterval(() => { this.poll() }, this.init.pollMs ?? 1000))
    this.timers.push(setInterval(() => { void this.refresh() }, this.init.refreshMs ?? 10_000))
    if (this.components.node !== undefined) this.attach(this.components.node)
    this.log.info('dashboard listening', { url: this.url, sampling: this.sampling })
  }

  /** Shows a started node: its events, coverage, peers, gallery and ensembles. */
  attach (node: DashboardNode): void {
    this.state.attach(node)
    const logger = this.init.logger
    const prompts = runPrompts(node.manifest, node.blocks)
    this.runPrompts = prompts
    this.shelf = new EnsembleShelf({ ...this.init.ensembles, runId: node.runId, logger }, { storage: node.blocks })
    if (this.init.gallery !== false) {
      const { source = 'own', ...galleryInit } = this.init.gallery ?? {}
      const components = { storage: node.blocks, manifest: node.manifest, prompts }
      const gallery = new Gallery({ ...galleryInit, logger }, components)
      this.state.addEventListener('checkpoint', (evt) => {
        if (source === 'run' || evt.detail.peer === node.peerId) gallery.offer(evt.detail)
      })
      gallery.addEventListener('row', (evt) => { this.server.broadcast('gallery', evt.detail) })
      gallery.setActive(this.viewers > 0)
      gallery.start()
      this.gallery = gallery
    }
    this.state.poll(this.viewers > 0)
    // Pages opened before the run was known get everything at once.
    this.server.broadcast('snapshot', this.snapshot())
    void this.refresh()
  }

  async stop (): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    this.timers = []
    await this.server.stop()
    await this.gallery?.stop()
    this.shelf?.dispose()
    this.state.detach()
  }

  /** A node stopped before its page is not an error worth more than a debug line. */
  private poll (): void {
    try {
      this.state.poll(this.viewers > 0)
    } catch (err) {
      this.log.debug('dashboard poll failed', { error: String(err) })
    }
  }

  private setViewers (count: number): void {
    const opened = count > this.viewers
    this.viewers = count
    this.gallery?.setActive(count > 0)
    if (opened) void this.refresh()
  }

  /** Peers' coverage maps, the held ensembles and the run's prompts: what a page needs now and then. */
  private async refresh (): Promise<void> {
    const node = this.state.attached
    if (node === undefined || this.refreshing || this.viewers === 0) return
    this.refreshing = true
    try {
      await this.state.refreshPeerCoverage()
      const ensembles = await this.shelf?.held() ?? []
      const prompts = await this.runPrompts?.().catch(() => this.prompts) ?? this.prompts
      if (JSON.stringify([ensembles, prompts]) !== JSON.stringify([this.ensembles, this.prompts])) {
        this.ensembles = ensembles
        this.prompts = prompts
        this.server.broadcast('ensembles', this.ensemblesView())
      }
      this.state.poll(true)
    } catch (err) {
      this.log.debug('dashboard refresh failed', { error: String(err) })
    } finally {
      this.refreshing = false
    }
  }

  private ensemblesView (): unknown {
    const shelf = this.shelf
    return {
      list: this.ensembles,
      sampling: { enabled: this.sampling, count: shelf?.count, steps: shelf?.steps, prompts: this.prompts }
    }
  }

  private snapshot (): unknown {
    const node = this.state.attached
    return {
      title: this.init.title ?? 'hddm-node',
      now: Date.now(),
      node: node === undefined
        ? undefined
        : { peerId: node.peerId, runId: node.runId, runName: node.manifest.name, addrs: node.multiaddrs() },
      tasks: node?.manifest.tasks.map((t) => t.kind === 'expert'
        ? { id: t.id, kind: t.kind, objective: t.objective, cluster: t.cluster }
        : { id: t.id, kind: t.kind }) ?? [],
      charts: dashboardCharts(node?.manifest.tasks.map((t) => t.id) ?? []),
      coverage: this.state.coverageRows(),
      peers: this.state.peers(),
      ...this.state.history(),
      gallery: this.gallery?.rows() ?? [],
      ensembles: this.ensemblesView(),
      log: this.state.logTail()
    }
  }

  /** The one action: `count` images of a prompt from a held ensemble, drawn here. */
  private async sample (body: unknown, signal: AbortSignal): Promise<unknown> {
    if (!this.sampling) throw new DashboardRequestError(403, 'sampling is off on this dashboard (read-only)')
    const parsed = SampleBody.safeParse(body)
    if (!parsed.success) throw new DashboardRequestError(400, 'expected {"ensemble": CID, "prompt": text, "seed"?: n}')
    const { ensemble, prompt, seed = 1 } = parsed.data
    const shelf = this.shelf
    if (shelf === undefined) throw new DashboardRequestError(404, 'no run yet')
    if (!(await shelf.held()).some((e) => e.cid === ensemble)) {
      throw new DashboardRequestError(404, `ensemble ${ensemble} is not held here`)
    }
    if (!(await this.runPrompts?.() ?? []).includes(prompt)) {
      throw new DashboardRequestError(400, `"${prompt}" is not a prompt of this run`)
    }
    const started = performance.now()
    const images = await shelf.draw(ensemble, prompt, seed, { signal })
    const ms = Math.round(performance.now() - started)
    this.state.log(`drew ${images.length} samples of "${prompt}" from ensemble ${ensemble.slice(-8)} in ${ms} ms`)
    return { ensemble, prompt, seed, ms, images }
  }
}

/** Builds an unstarted dashboard; `await dashboard.start()` listens and prints nothing (`url` says where). */
export function createDashboard (init: DashboardInit = {}, components: DashboardComponents = {}): Dashboard {
  return new Dashboard(init, components)
}
