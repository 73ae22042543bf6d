/**
 * What a test internet is made of, as data: the hosts with their addresses, and the commands
 * that build it. Pure, so that the addressing is checked without root.
 *
 * ```
 *   pub-1 10.77.0.11 ─┐                              ┌─ home-1 192.168.10.11
 *   pub-2 10.77.0.12 ─┼─ switch ─ 10.77.0.2 nat-1 ───┤  (MASQUERADE, drops new inbound)
 *                     │   (bridge in its own ns)     └─ ...
 *                     └────────── 10.77.0.3 nat-2 ──── home-2 192.168.20.11
 * ```
 *
 * Every link is a veth pair made directly between two of the internet's namespaces, and every
 * rule lives inside them: nothing is added to the machine's own namespace, so deleting the
 * namespaces removes all of it.
 */

export interface HostSpec {
  /** A short slug, unique in the internet: the namespace is `<prefix><name>`. */
  name: string
  /** tbf rate limit of the host's link, each direction, in Mbit/s. @default unlimited */
  rateMbit?: number
  /**
   * Delay added to every packet the host sends, in ms (a user-space relay on a TUN device in
   * the host's namespace, delay-relay.ts: this kernel has no netem). The round trip to an
   * undelayed host grows by this much. @default 0
   */
  delayMs?: number
  /** Uniform jitter, +-ms around `delayMs`; packets stay in order. @default 0 */
  jitterMs?: number
}

export interface NatSpec {
  /** The router's name, unique in the internet. */
  name: string
  /** Hosts on the router's private LAN. */
  hosts: Array<string | HostSpec>
  /** tbf rate limit of the router's uplink, each direction, in Mbit/s. @default unlimited */
  rateMbit?: number
}

export interface InternetInit {
  /** Hosts on the public segment. @default ['pub-1', 'pub-2'] */
  public?: Array<string | HostSpec>
  /** NAT routers with their private LANs. @default nat-1 with home-1, nat-2 with home-2 */
  nats?: NatSpec[]
}

export type HostRole = 'public' | 'private' | 'router'

export interface Host {
  name: string
  /** The network namespace it runs in. */
  ns: string
  role: HostRole
  /** Its own address: public 10.77.0.x, private 192.168.x.y, a router's public side. */
  ip: string
  /** The address its connections come from, as public hosts see them: a private host's router's. */
  publicIp: string
  /** The router a private host sits behind. */
  nat?: string
  /** A router's address on its LAN (the private hosts' gateway). */
  lanIp?: string
  /** A router's LAN, e.g. 192.168.10.0/24. */
  lan?: string
  /**
   * The two ends of its link, [namespace, device]: its own (eth0, a router's wan0), then the
   * port on the switch or on its router's LAN bridge. Where `tbf` goes, both ways.
   */
  linkEnds: Array<[string, string]>
  spec: HostSpec
}

export interface Plan {
  /** The namespace of the public segment's bridge. */
  switchNs: string
  hosts: Host[]
  /** argv lists, run in order in the machine's namespace (`ip -n`, `ip netns exec`). */
  commands: string[][]
}

export const PUBLIC_NET = '10.77.0'
const SLUG = /^[a-z][a-z0-9-]{0,19}$/
const DEFAULT_INIT: Required<InternetInit> = {
  public: ['pub-1', 'pub-2'],
  nats: [{ name: 'nat-1', hosts: ['home-1'] }, { name: 'nat-2', hosts: ['home-2'] }]
}

function specOf (h: string | HostSpec): HostSpec {
  return typeof h === 'string' ? { name: h } : h
}

function checkNames (init: Required<InternetInit>): void {
  const specs = [...init.public.map(specOf), ...init.nats.flatMap((n) => [n, ...n.hosts.map(specOf)])]
  const names = specs.map((h) => h.name)
  for (const name of names) {
    if (!SLUG.test(name) || name === 'switch') throw new Error(`bad host name ${JSON.stringify(name)}`)
  }
  const twice = names.find((n, i) => names.indexOf(n) !== i)
  if (twice !== undefined) throw new Error(`host name ${twice} is used twice`)
  if (init.public.length > 200 || init.nats.length > 8) throw new Error('at most 200 public hosts and 8 NATs')
  if (init.nats.some((n) => n.hosts.length > 200)) throw new Error('at most 200 hosts behind a NAT')
}

/** tbf on one end of a link: `burst` must hold a timer tick's worth of bytes at the rate. */
export function tbf (ns: string, dev: string, rateMbit: number): string[] {
  const burst = Math.max(16_384, Math.ceil(rateMbit * 1e6 / 8 / 100))
  return ['tc', '-n', ns, 'qdisc', 'add', 'dev', dev, 'root', 'tbf',
    'rate', `${rateMbit}mbit`, 'burst', String(burst), 'latency', '100ms']
}

/** A veth pair from `a`'s `devA` to a port of the bridge `bridge` in `b`, both ends up. */
function link (a: string, devA: string, b: string, port: string, bridge: string, rateMbit?: number): string[][] {
  const commands = [
    ['ip', 'link', 'add', devA, 'netns', a, 'type', 'veth', 'peer', 'name', port, 'netns', b],
    ['ip', '-n', b, 'link', 'set', port, 'master', bridge],
    ['ip', '-n', b, 'link', 'set', port, 'up'],
    ['ip', '-n', a, 'link', 'set', devA, 'up']
  ]
  if (rateMbit !== undefined) commands.push(tbf(a, devA, rateMbit), tbf(b, port, rateMbit))
  return commands
}

function inNs (ns: string, ...argv: string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv]
}

/**
 * A router: forwarding on, MASQUERADE out of its public side, and a stateful filter that lets
 * in only replies to connections opened from inside, as a home router does (port forwards are
 * added later, `Internet.forwardPort`).
 */
function routerRules (ns: string): string[][] {
  return [
    inNs(ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'),
    inNs(ns, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan0', '-j', 'MASQUERADE'),
    inNs(ns, 'iptables', '-A', 'FORWARD', '-i', 'lan0', '-o', 'wan0', '-j', 'ACCEPT'),
    inNs(ns, 'iptables', '-A', 'FORWARD', '-i', 'wan0', '-o', 'lan0',
      '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'),
    inNs(ns, 'iptables', '-P', 'FORWARD', 'DROP')
  ]
}

/** The hosts and the commands of the internet `init` describes, with namespaces named `<prefix><host>`. */
export function planInternet (prefix: string, given: InternetInit = {}): Plan {
  const init = { ...DEFAULT_INIT, ...given }
  checkNames(init)
  const switchNs = `${prefix}switch`
  const hosts: Host[] = []
  const commands: string[][] = [
    ['ip', 'netns', 'add', switchNs],
    ['ip', '-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge'],
    ['ip', '-n', switchNs, 'link', 'set', 'br0', 'up']
  ]
  let port = 0
  const nsUp = (ns: string): void => {
    commands.push(['ip', 'netns', 'add', ns], ['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
  }
  init.public.map(specOf).forEach((spec, i) => {
    const ns = `${prefix}${spec.name}`
    const ip = `${PUBLIC_NET}.${11 + i}`
    const swPort = `p${port++}`
    const linkEnds: Array<[string, string]> = [[ns, 'eth0'], [switchNs, swPort]]
    hosts.push({ name: spec.name, ns, role: 'public', ip, publicIp: ip, linkEnds, spec })
    nsUp(ns)
    commands.push(...link(ns, 'eth0', switchNs, swPort, 'br0', spec.rateMbit))
    commands.push(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0'])
  })
  init.nats.forEach((nat, j) => {
    const ns = `${prefix}${nat.name}`
    const ip = `${PUBLIC_NET}.${2 + j}`
    const net = `192.168.${10 * (j + 1)}`
    const lanIp = `${net}.1`
    const swPort = `p${port++}`
    hosts.push({
      name: nat.name, ns, role: 'router', ip, publicIp: ip, lanIp, lan: `${net}.0/24`,
      linkEnds: [[ns, 'wan0'], [switchNs, swPort]], spec: nat
    })
    nsUp(ns)
    commands.push(...link(ns, 'wan0', switchNs, swPort, 'br0', nat.rateMbit))
    commands.push(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'wan0'])
    commands.push(['ip', '-n', ns, 'link', 'add', 'lan0', 'type', 'bridge'])
    commands.push(['ip', '-n', ns, 'link', 'set', 'lan0', 'up'])
    commands.push(['ip', '-n', ns, 'addr', 'add', `${lanIp}/24`, 'dev', 'lan0'])
    commands.push(...routerRules(ns))
    nat.hosts.map(specOf).forEach((spec, i) => {
      const hostNs = `${prefix}${spec.name}`
      const hostIp = `${net}.${11 + i}`
      const linkEnds: Array<[string, string]> = [[hostNs, 'eth0'], [ns, `l${i}`]]
      hosts.push({
        name: spec.name, ns: hostNs, role: 'private', ip: hostIp, publicIp: ip, nat: nat.name, linkEnds, spec
      })
      nsUp(hostNs)
      commands.push(...link(hostNs, 'eth0', ns, `l${i}`, 'lan0', spec.rateMbit))
      commands.push(['ip', '-n', hostNs, 'addr', 'add', `${hostIp}/24`, 'dev', 'eth0'])
      commands.push(['ip', '-n', hostNs, 'route', 'add', 'default', 'via', lanIp])
    })
  })
  return { switchNs, hosts, commands }
}
