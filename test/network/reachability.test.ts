import { afterAll, describe, expect, it } from 'vitest'
import { requestDialBack } from '../../src/network/dial-back.js'
import { describeReachability, type ReachabilityState } from '../../src/network/reachability.js'
import { checkReachability } from '../../src/network/reachability-check.js'
import { createTestNode, type TestNode } from '../utils/create-node.js'
import { waitFor } from '../utils/wait.js'

const RELAY = '/ip4/10.77.0.11/tcp/4710/p2p/12D3KooWRelay/p2p-circuit/p2p/12D3KooWUs'

function state (over: Partial<ReachabilityState>): ReachabilityState {
  return {
    checkedBy: '12D3KooWBoot', observedHost: '10.77.0.2', listenHosts: ['192.168.10.11'],
    ports: [{ port: 4711, reachable: false }], relayAddrs: [RELAY], ...over
  }
}

describe('the reachability line', () => {
  it('says reachable at the address a peer dialled back', () => {
    const r = describeReachability(state({ observedHost: '10.77.0.12', listenHosts: ['10.77.0.12'],
      ports: [{ port: 4711, reachable: true }] }))
    expect(r).toEqual({ status: 'reachable', line: 'reachable at /ip4/10.77.0.12/tcp/4711',
      reachableAt: ['/ip4/10.77.0.12/tcp/4711'] })
  })

  it('names a port forward when the reachable address is not one of ours', () => {
    const r = describeReachability(state({ ports: [{ port: 4711, reachable: true }] }))
    expect(r.status).toBe('reachable')
    expect(r.line).toBe('reachable at /ip4/10.77.0.2/tcp/4711 (through a port forward on the NAT)')
  })

  it('says behind NAT, the relay it uses and the port to forward', () => {
    expect(describeReachability(state({})).line)
      .toBe(`behind NAT (seen as 10.77.0.2), using relay ${RELAY}; forward TCP port 4711 to be reachable directly`)
    const twoPorts = [{ port: 4711, reachable: false }, { port: 4712, reachable: false }]
    expect(describeReachability(state({ relayAddrs: [], ports: twoPorts })))
      .toMatchObject({ status: 'nat', line: 'behind NAT (seen as 10.77.0.2), no relay reservation yet; ' +
        'forward TCP ports 4711, 4712 to be reachable directly' })
  })

  it('says firewalled when the peer saw our own address but could not connect', () => {
    const r = describeReachability(state({ observedHost: '192.168.10.11' }))
    expect(r.status).toBe('firewalled')
    expect(r.line).toMatch(/^not reachable at 192\.168\.10\.11 \(a firewall\?\), using relay .*; open TCP port 4711/)
  })

  it('says unknown when no peer answered', () => {
    const r = describeReachability(state({ checkedBy: undefined, observedHost: undefined, relayAddrs: [] }))
    expect(r).toMatchObject({ status: 'unknown', reachableAt: [] })
    expect(r.line).toBe('reachability unknown: no connected peer answered a dial-back check; no relay reservation yet')
  })
})

describe('dial-back and relay between real nodes on 127.0.0.1', () => {
  const nodes: TestNode[] = []
  afterAll(async () => { await Promise.all(nodes.map(async (n) => { await n.stop() })) })

  it('a node learns it is reachable, and holds a relay reservation; a closed port is not reachable',
    { timeout: 60_000 }, async () => {
      const relay = await createTestNode({ relayService: { maxReservations: 4 }, storage: false })
      nodes.push(relay)
      const node = await createTestNode({ relayReservation: true, bootstrap: [relay.addr], storage: false })
      nodes.push(node)
      const circuit = (n: TestNode): string | undefined =>
        n.swarm.getMultiaddrs().map(String).find((a) => a.includes('/p2p-circuit'))
      const relayed = await waitFor(() => circuit(node), 'a relay reservation')
      expect(relayed).toBe(`${relay.addr}/p2p-circuit/p2p/${node.swarm.peerId.toString()}`)

      const report = await checkReachability(node.swarm.libp2p, { prefer: [relay.swarm.peerId.toString()] })
      const port = Number(/\/tcp\/(\d+)/.exec(node.addr)?.[1])
      expect(report.status).toBe('reachable')
      expect(report.state.checkedBy).toBe(relay.swarm.peerId.toString())
      expect(report.reachableAt).toEqual([`/ip4/127.0.0.1/tcp/${port}`])

      // A port nothing listens on is not reachable (the answer is per port).
      await node.stop()
      nodes.pop()
      const asker = await createTestNode({ bootstrap: [relay.addr], storage: false })
      nodes.push(asker)
      const answer = await requestDialBack(asker.swarm.libp2p, relay.swarm.peerId, [port])
      expect(answer).toEqual({ observedHost: '127.0.0.1', reachable: [false] })
    })

  it('passes the loopback scope gater on a relayed address: the connection is limited', { timeout: 60_000 },
    async () => {
      const relay = await createTestNode({ relayService: true, storage: false })
      const target = await createTestNode({ relayReservation: true, bootstrap: [relay.addr], storage: false })
      const dialer = await createTestNode({ storage: false })
      nodes.push(relay, target, dialer)
      const isCircuit = (a: { toString: () => string }): boolean => a.toString().includes('/p2p-circuit')
      const relayed = await waitFor(() => target.swarm.getMultiaddrs().find(isCircuit),
        'a relay reservation')
      const connection = await dialer.swarm.libp2p.dial(relayed)
      expect(connection.remotePeer.toString()).toBe(target.swarm.peerId.toString())
      expect(connection.limits).toBeDefined()
    })
})
