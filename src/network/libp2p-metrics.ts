/**
 * libp2p's own metrics (@libp2p/prometheus-metrics) in a prom-client registry that the node
 * owns, never prom-client's global one, so that several nodes in one process (tests,
 * simulations) each expose their own.
 *
 * @libp2p/prometheus-metrics keeps one module-wide map from metric name to metric object: it
 * clears the map (and prom-client's global registry) whenever a libp2p node with metrics is
 * built, and hands out the mapped object when a name is registered again. Two nodes built at the
 * same time would share, and miscount, what they register while both start. So every libp2p node
 * with metrics is built and started here, one at a time: its components register all their
 * metrics while they are built and started (constructors and `start()`), never later.
 */
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { Libp2pOptions } from 'libp2p'
import type { Registry } from 'prom-client'

/** libp2p's metrics component, writing into `registry`; `nodejs_fs_usage_bytes` reports `statfsLocation`'s disk. */
export function libp2pMetrics (registry: Registry, statfsLocation?: string): NonNullable<Libp2pOptions['metrics']> {
  // Process metrics (CPU, heap, event loop) are the node's to collect once per registry
  // (node/node-metrics.ts), not once per libp2p instance: a restarted node would register them twice.
  return prometheusMetrics({ registry, collectDefaultMetrics: false, statfsLocation })
}

/** A libp2p node built with its metrics, and how to take those metrics out of the registry again. */
export interface WithMetrics<T> {
  value: T
  /** Removes what building `value` registered (after it stopped), so a restart can register anew. */
  unregister: () => void
}

let building: Promise<unknown> = Promise.resolve()

/**
 * Runs `build` (create and start a libp2p node whose metrics go to `registry`) after every
 * earlier build in this process has finished, and remembers which metric names it added to
 * `registry`. Without a registry it just runs `build`.
 */
export async function buildWithMetrics<T> (
  registry: Registry | undefined, build: () => Promise<T>
): Promise<WithMetrics<T>> {
  if (registry === undefined) return { value: await build(), unregister: () => {} }
  const names = (): string[] => registry.getMetricsAsArray().map((m) => m.name)
  const run = building.then(async () => {
    const before = new Set(names())
    const added = (): string[] => names().filter((name) => !before.has(name))
    const unregister = (list: string[]) => (): void => { for (const name of list) registry.removeSingleMetric(name) }
    try {
      const value = await build()
      return { value, unregister: unregister(added()) }
    } catch (err) {
      unregister(added())()
      throw err
    }
  })
  building = run.catch(() => {})
  return await run
}
