/** The test internet's addressing and build plan (topology.ts), checked without root. */
import { describe, expect, it } from 'vitest'
import { planInternet, tbf } from './topology.js'

/** The namespaces a command names: `ip -n X`, `tc -n X`, `ip netns add|exec X`, `... netns X` (veth ends). */
function namespacesOf (argv: string[]): string[] {
  return argv.flatMap((a, i) => {
    const before = argv[i - 1]
    if (before === '-n' || (before === 'netns' && a !== 'add' && a !== 'exec')) return [a]
    return (before === 'add' || before === 'exec') && argv[i - 2] === 'netns' ? [a] : []
  })
}

describe('planInternet', () => {
  it('gives public hosts, routers and private hosts their own addresses, and private hosts their router\'s', () => {
    const plan = planInternet('t-', {
      public: ['boot', 'pub'],
      nats: [{ name: 'nat-a', hosts: ['a1', 'a2'] }, { name: 'nat-b', hosts: ['b1'] }]
    })
    const row = (name: string): string[] => {
      const h = plan.hosts.find((h) => h.name === name)!
      return [h.ns, h.role, h.ip, h.publicIp]
    }
    expect(row('boot')).toEqual(['t-boot', 'public', '10.77.0.11', '10.77.0.11'])
    expect(row('pub')).toEqual(['t-pub', 'public', '10.77.0.12', '10.77.0.12'])
    expect(row('nat-a')).toEqual(['t-nat-a', 'router', '10.77.0.2', '10.77.0.2'])
    expect(row('a2')).toEqual(['t-a2', 'private', '192.168.10.12', '10.77.0.2'])
    expect(row('b1')).toEqual(['t-b1', 'private', '192.168.20.11', '10.77.0.3'])
    expect(plan.hosts.find((h) => h.name === 'nat-b')?.lan).toBe('192.168.20.0/24')
    // Every command names only the internet's namespaces, each made before a command uses it.
    const made = new Set<string>()
    for (const argv of plan.commands) {
      if (argv[1] === 'netns' && argv[2] === 'add') made.add(argv[3])
      for (const ns of namespacesOf(argv)) expect(made.has(ns), argv.join(' ')).toBe(true)
    }
    expect([...made].sort()).toEqual(plan.hosts.map((h) => h.ns).concat(plan.switchNs).sort())
  })

  it('adds tbf on both ends of a limited link, and the NAT rules only on routers', () => {
    const plan = planInternet('t-', { public: [{ name: 'slow', rateMbit: 8 }], nats: [{ name: 'nat', hosts: ['h'] }] })
    const text = plan.commands.map((a) => a.join(' '))
    expect(text).toContain(tbf('t-slow', 'eth0', 8).join(' '))
    expect(text).toContain(tbf('t-switch', 'p0', 8).join(' '))
    expect(text.filter((c) => c.includes('MASQUERADE'))).toEqual([
      'ip netns exec t-nat iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE'
    ])
    expect(text).toContain('ip netns exec t-nat iptables -P FORWARD DROP')
  })

  it('refuses a name used twice or one that is no slug', () => {
    expect(() => planInternet('t-', { public: ['a'], nats: [{ name: 'n', hosts: ['a'] }] })).toThrow(/twice/)
    expect(() => planInternet('t-', { public: ['Bad Name'] })).toThrow(/bad host name/)
  })
})
