/**
 * A live web page for a node (`hddm-node start --dashboard`) or a local swarm (`simulate`):
 * the run's coverage map (the rows `hddm-node status` prints), this node's training curves,
 * its peers with their gossip mesh membership and scores, a sample gallery per expert that
 * refreshes when a checkpoint lands, and the ensembles the node holds with a button to draw
 * from one. Updates arrive over Server-Sent Events; the plots are Vega-Lite, served from the
 * package like every other asset.
 *
 * Security model (docs/OPERATIONS.md, "Dashboard"): it binds 127.0.0.1 unless told otherwise;
 * it answers only Host headers that are an IP literal, `localhost` or a listed name, on its
 * own port, and only same-origin browser requests (DNS rebinding, cross-site requests); reads
 * change nothing; the one action (drawing samples) is off unless bound to loopback, takes
 * application/json, runs one at a time and is rate-limited by a token bucket.
 *
 * @example
 * ```ts
 * const dashboard = createDashboard({ host: '127.0.0.1', port: 0 }, { node })
 * await dashboard.start()
 * console.log(`dashboard ${dashboard.url}`)
 * // ... later
 * await dashboard.stop()
 * ```
 */
export { createDashboard, Dashboard, type DashboardInit, type DashboardComponents } from './dashboard.js'
export {
  parseDashboardAddress, isLoopbackHost, dashboardUrl, DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT,
  type DashboardAddress
} from './address.js'
export {
  DashboardState, type DashboardNode, type DashboardStateInit, type DashboardUpdate, type CoverageRow,
  type CheckpointVerification, type StepPoint, type HeldOutPoint, type LogLine, type AnnouncedCheckpoint
} from './state.js'
export { Gallery, type GalleryInit, type GalleryRow, type GalleryOffer } from './gallery.js'
export { EnsembleShelf, type EnsembleEntry, type EnsembleShelfInit, type DrawnImage } from './ensembles.js'
export { refuseForeignRequest, type RequestGuardInit } from './guard.js'
export { TokenBucket, type TokenBucketInit } from './rate-limit.js'
export { BoundedSeries } from './series.js'
export { dashboardCharts, type DashboardChart, type DashboardCharts } from './charts.js'
export { peersView, type PeersView, type PeerRow } from './peers.js'
