/**
 * Catches up on checkpoint announcements this node did not hear. Gossip only carries what is
 * said while one listens: a node that joins (or restarts) after a task's announcement would
 * otherwise train a finished task again, or take over a task from step 0 instead of from its
 * last checkpoint. So the node asks run peers for their coverage maps (at start, then each new
 * peer once, and everyone every `resyncMs` against lost messages), and adopts a checkpoint it
 * lacks only after fetching it by CID and checking that its content says what the map says:
 * this run, this task's network, objective and cluster, this step, and the full budget if final.
 * A peer therefore cannot make a task look finished without producing such a checkpoint, the
 * same bar as a signed announcement (the held-out gate at assembly judges its quality).
 *
 * A final this node heard on gossip but could not place (the final verifier found no claim of
 * its announcer) is fetched from a map as well, so that it is judged by its content like any
 * adopted final: the verifier's not-holder verdict has its announcer asked at the next poll.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { silentLogger, type Logger } from '../logger.js'
import { type CheckpointInfo, compareCheckpoints, type TaskCoverage } from '../network/claim-types.js'
import { ContentTooLargeError, NotAFileError, WrongCodecError } from '../storage/errors.js'
import { checkAnnouncedCheckpoint, contradictsAnnouncement, fetchAnnouncedCheckpoint } from './announced-checkpoint.js'
import { queryCoverage } from './coverage-protocol.js'
import type { FinalVerdict, FinalVerifier } from './final-verifier.js'
import type { RunState } from './run-state.js'
import type { RunTask } from '../protocol/run-manifest.js'
import type { Storage } from '../storage/helia.js'
import type { Libp2p } from '@libp2p/interface'

export interface CheckpointSyncInit {
  /** Ask every run peer again this often (lost gossip). @default 60_000 */
  resyncMs?: number
  /** Look for run peers not asked yet this often. @default 2_000 */
  pollMs?: number
  /** Per coverage query. @default 5_000 */
  queryTimeoutMs?: number
  /** Per checkpoint fetch. @default 60_000 */
  fetchTimeoutMs?: number
  logger?: Logger
}

export interface CheckpointSyncComponents {
  libp2p: Libp2p
  state: Pick<RunState, 'runId' | 'manifest' | 'peers' | 'lastCheckpoint' | 'adoptCheckpoint' | 'table'>
  storage: Pick<Storage, 'getBytes'>
  /** Finals judged (or being judged) here are not fetched again. Absent: known finals never are. */
  finals?: Pick<FinalVerifier, 'handles' | 'addEventListener' | 'removeEventListener'>
}

/** Refused checkpoints remembered, so that a lying map costs one fetch per lie, not one per resync. */
const MAX_REFUSED = 1024
/** What fetching again would not change, unlike a timeout or a full disk here. */
function isFinalRefusal (err: unknown): boolean {
  // The CID is not a checkpoint-sized file, or the file is not what the map says.
  const notACheckpoint = err instanceof ContentTooLargeError || err instanceof WrongCodecError ||
    err instanceof NotAFileError
  return notACheckpoint || contradictsAnnouncement(err)
}
/** A checkpoint that could not be fetched is tried again after this many resyncs, not at each. */
const RETRY_RESYNCS = 5
/** Checkpoints fetched at once in a round (each at most the run's largest checkpoint in memory). */
const FETCHES_AT_ONCE = 4

/** A checkpoint a map offers, and the peer whose map it is (asked for its blocks too). */
interface Offer { info: CheckpointInfo, via: string }
/** Offers of one task tried in turn until one is adopted. */
interface Job { task: RunTask, offers: Offer[] }

export class CheckpointSync {
  private readonly init: Required<Omit<CheckpointSyncInit, 'logger'>>
  private readonly log: Logger
  private readonly asked = new Set<string>()
  /** When each refused `task \0 cid` may be tried again (Infinity: its content was wrong), oldest first. */
  private readonly refused = new Map<string, number>()
  private readonly controller = new AbortController()
  private timer?: ReturnType<typeof setInterval>
  private running?: Promise<void>
  private lastFullSync = 0

  constructor (init: CheckpointSyncInit, private readonly c: CheckpointSyncComponents) {
    this.init = {
      resyncMs: init.resyncMs ?? 60_000,
      pollMs: init.pollMs ?? 2_000,
      queryTimeoutMs: init.queryTimeoutMs ?? 5_000,
      fetchTimeoutMs: init.fetchTimeoutMs ?? 60_000
    }
    this.log = (init.logger ?? silentLogger).child('checkpoint-sync')
  }

  /**
   * Asks the peers connected now, waits for that round (at most `timeoutMs`), then keeps
   * polling in the background.
   */
  async start (timeoutMs = 20_000): Promise<void> {
    this.c.finals?.addEventListener('verdict', this.onVerdict)
    this.lastFullSync = Date.now()
    const first = this.round(this.c.libp2p.getPeers().map(String))
    const deadline = new Promise<void>((resolve) => { setTimeout(resolve, timeoutMs).unref() })
    await Promise.race([first, deadline])
    this.timer = setInterval(() => { this.tick() }, this.init.pollMs)
  }

  async stop (): Promise<void> {
    this.c.finals?.removeEventListener('verdict', this.onVerdict)
    clearInterval(this.timer)
    this.controller.abort()
    await this.running
  }

  /** A final this node could not place: its announcer is asked again at the next poll. */
  private readonly onVerdict = (evt: CustomEvent<FinalVerdict>): void => {
    if (evt.detail.reason === 'not-holder') this.asked.delete(evt.detail.peer)
  }

  private tick (): void {
    if (this.running !== undefined) return
    const peers = this.c.state.peers()
    // A peer that left and comes back is asked again.
    for (const peer of this.asked) if (!peers.includes(peer)) this.asked.delete(peer)
    const full = Date.now() - this.lastFullSync >= this.init.resyncMs
    if (full) this.lastFullSync = Date.now()
    const due = full ? peers : peers.filter((p) => !this.asked.has(p))
    if (due.length > 0) void this.round(due)
  }

  private async round (peers: string[]): Promise<void> {
    if (this.running !== undefined) return await this.running
    this.running = this.ask(peers).finally(() => { this.running = undefined })
    await this.running
  }

  /**
   * Asks every peer at once, then fetches what their maps offer, FETCHES_AT_ONCE at a time: a
   * checkpoint that never resolves holds up its own slot, not the round.
   */
  private async ask (peers: string[]): Promise<void> {
    const maps = await Promise.all(peers.map(async (peer) => ({ peer, rows: await this.mapOf(peer) })))
    const jobs = this.c.state.manifest.tasks.flatMap((task) => this.jobsFor(task, maps))
    const next = async (): Promise<void> => {
      for (let job = jobs.shift(); job !== undefined && !this.controller.signal.aborted; job = jobs.shift()) {
        await this.tryInTurn(job.task, job.offers)
      }
    }
    await Promise.all(Array.from({ length: FETCHES_AT_ONCE }, next))
  }

  private async mapOf (peer: string): Promise<TaskCoverage[]> {
    this.asked.add(peer)
    try {
      return await queryCoverage(this.c.libp2p, peerIdFromString(peer), this.c.state.runId, this.init.queryTimeoutMs)
    } catch (err) {
      // Bootstrap peers and peers of other runs have no map for this run: nothing to learn.
      this.log.debug('no coverage from peer', { peer, reason: (err as Error).message })
      return []
    }
  }

  /**
   * What the maps offer for `task`: one job with every map's best that is news here, best first
   * (a liar's "best" costs one fetch, then the next map's is tried), and one per final that gossip
   * told of but this node has not judged (of a row's finals, only those: a map may list 64).
   */
  private jobsFor (task: RunTask, maps: Array<{ peer: string, rows: TaskCoverage[] }>): Job[] {
    const rows = maps.flatMap(({ peer, rows }) => rows.filter((r) => r.task === task.id).map((row) => ({ row, peer })))
    const news = rows.flatMap(({ row, peer }) => row.checkpoint !== undefined && this.isNews(task.id, row.checkpoint)
      ? [{ info: row.checkpoint, via: peer }]
      : [])
    news.sort((a, b) => compareCheckpoints(b.info, a.info))
    const unjudged = rows.flatMap(({ row, peer }) =>
      (row.finals ?? []).filter((f) => this.isUnjudged(task.id, f)).map((info) => ({ info, via: peer })))
    const once = (offers: Offer[]): Offer[] => [...new Map(offers.map((o) => [o.info.cid, o])).values()]
    const best = news.length > 0 ? [{ task, offers: once(news) }] : []
    return [...best, ...once(unjudged).map((o) => ({ task, offers: [o] }))]
  }

  /** Adopts the first offer that is still wanted and checks out. */
  private async tryInTurn (task: RunTask, offers: Offer[]): Promise<void> {
    for (const { info, via } of offers) {
      if (this.controller.signal.aborted) return
      if (!this.isNews(task.id, info) && !this.isUnjudged(task.id, info)) continue
      if (await this.adopt(task, info, via)) return
    }
  }

  /** A checkpoint more advanced than any known here. */
  private isNews (task: string, info: CheckpointInfo): boolean {
    const known = this.c.state.lastCheckpoint(task)
    return !this.isRefused(task, info) && (known === undefined || compareCheckpoints(info, known) > 0)
  }

  /** A final that gossip told of but that this node has not judged (its holder's claim unheard). */
  private isUnjudged (task: string, info: CheckpointInfo): boolean {
    const { state, finals } = this.c
    if (!info.final || finals === undefined || finals.handles(task, info.cid)) return false
    const heard = state.table.checkpointsOf(task).some((c) => c.cid === info.cid && c.peer === info.peer)
    return heard && !this.isRefused(task, info)
  }

  private isRefused (task: string, info: CheckpointInfo): boolean {
    return (this.refused.get(`${task}\u0000${info.cid}`) ?? 0) > Date.now()
  }

  /** Whether the checkpoint checked out and was adopted. */
  private async adopt (task: RunTask, info: CheckpointInfo, via: string): Promise<boolean> {
    try {
      const bytes = await fetchAnnouncedCheckpoint(this.c.storage, this.c.state.manifest, info, {
        timeoutMs: this.init.fetchTimeoutMs, signal: this.controller.signal, alsoFrom: via
      })
      checkAnnouncedCheckpoint(this.c.state, task, info, bytes)
      const outcome = this.c.state.adoptCheckpoint(task.id, info, via)
      const { cid, step, final } = info
      this.log.info('adopted a checkpoint missed on gossip', { task: task.id, cid, step, final, via, outcome })
      return true
    } catch (err) {
      if (this.controller.signal.aborted) return false
      this.log.warn('refused a checkpoint from a coverage map', { task: task.id, cid: info.cid, via }, err)
      const until = isFinalRefusal(err) ? Infinity : Date.now() + RETRY_RESYNCS * this.init.resyncMs
      this.remember(`${task.id}\u0000${info.cid}`, until)
      return false
    }
  }

  private remember (key: string, until: number): void {
    this.refused.delete(key)
    this.refused.set(key, until)
    if (this.refused.size > MAX_REFUSED) this.refused.delete(this.refused.keys().next().value as string)
  }
}
