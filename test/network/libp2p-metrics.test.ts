/**
 * libp2p's metrics in a registry per node (src/network/libp2p-metrics.ts): nodes built at the
 * same time in one process each get all of them, and a stopped node takes its own out again so
 * that it can start anew on the same registry.
 */
import { Registry } from 'prom-client'
import { afterAll, describe, expect, it } from 'vitest'
import { createSwarmNode, type SwarmNode } from '../../src/network/swarm-node.js'

const names = (registry: Registry): string[] => registry.getMetricsAsArray().map((m) => m.name).sort()

describe('libp2p metrics, one registry per node', () => {
  const nodes: SwarmNode[] = []
  afterAll(async () => { await Promise.all(nodes.map(async (n) => { await n.stop() })) })

  const swarm = (metrics: Registry): SwarmNode => {
    const node = createSwarmNode({ listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback', metrics })
    nodes.push(node)
    return node
  }

  it('gives each of two nodes started at once every metric, in its own registry', async () => {
    // Without building one node at a time, the second registry misses what the first node registers
    // while both start (@libp2p/prometheus-metrics shares one name map per process).
    const registries = [new Registry(), new Registry(), new Registry()]
    const started = registries.map(swarm)
    await Promise.all(started.map(async (n) => { await n.start() }))
    const [first, ...others] = registries.map(names)
    expect(first).toEqual(expect.arrayContaining([
      'libp2p_data_transfer_bytes_total', 'libp2p_connection_manager_connections', 'libp2p_tcp_listener_events_total'
    ]))
    for (const other of others) expect(other).toEqual(first)
    // Each node counts its own traffic: only the two that talk move their byte counters.
    await started[1].libp2p.dial(started[0].getMultiaddrs()[0])
    const sent = async (r: Registry): Promise<number> => {
      const { values } = await r.getSingleMetric('libp2p_data_transfer_bytes_total')!.get()
      return values.find((v) => v.labels.protocol === 'global sent')?.value ?? 0
    }
    expect(await sent(registries[1])).toBeGreaterThan(0)
    expect(await sent(registries[2])).toBe(0)
  })

  it('takes a stopped node\'s metrics out of the registry, so the node can start again on it', async () => {
    const registry = new Registry()
    const node = swarm(registry)
    await node.start()
    const registered = names(registry)
    expect(registered.length).toBeGreaterThan(20)
    await node.stop()
    expect(names(registry)).toEqual([])
    await node.start()
    expect(names(registry)).toEqual(registered)
  })

  it('registers nothing without a registry', async () => {
    const node = createSwarmNode({ listen: ['/ip4/127.0.0.1/tcp/0'], scope: 'loopback' })
    nodes.push(node)
    await node.start()
    expect(node.libp2p.metrics).toBeUndefined()
  })
})
