/**
 * `hddm-node start --metrics [host:port]`: a Prometheus endpoint with libp2p's metrics and
 * hddm's (docs/OPERATIONS.md "Metrics"). Loopback unless an address is named.
 */
import { Option } from 'commander'
import { Registry } from 'prom-client'
import type { Logger } from '../logger.js'
import {
  createMetricsServer, DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT, parseMetricsAddress
} from '../node/metrics-server.js'
import { createNodeMetrics, type MetricsSource } from '../node/node-metrics.js'

export interface MetricsFlag {
  metrics?: { host: string, port: number }
}

const DEFAULT_ADDRESS = `${DEFAULT_METRICS_HOST}:${DEFAULT_METRICS_PORT}`

export const metricsOption = (): Option =>
  new Option('--metrics [host:port]', 'serve Prometheus metrics (libp2p\'s and hddm\'s) at ' +
    `http://<host:port>/metrics; without a value ${DEFAULT_ADDRESS}; port 0 picks a free port (the URL is logged)`)
    .preset(DEFAULT_ADDRESS)
    .argParser(parseMetricsAddress)

/** The registry the node's libp2p and hddm's metrics share, when `--metrics` is given. */
export function metricsRegistry (o: MetricsFlag): Registry | undefined {
  return o.metrics !== undefined ? new Registry() : undefined
}

/**
 * Counts `node`'s metrics into `registry` and serves them; call before `node.start()` so that
 * a busy port fails the command before it joins the swarm, and counting starts with the node.
 * @returns how to stop both (after the node)
 */
export async function serveMetrics (node: MetricsSource, registry: Registry | undefined, o: MetricsFlag,
  logger: Logger): Promise<() => Promise<void>> {
  if (registry === undefined || o.metrics === undefined) return async () => {}
  const metrics = createNodeMetrics({ registry }, { node })
  const server = createMetricsServer({ ...o.metrics, logger }, { registry })
  await server.start()
  metrics.start()
  return async () => {
    metrics.stop()
    await server.stop()
  }
}
