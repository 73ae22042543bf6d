/**
 * Link delay without netem (this kernel has no `sch_netem`: "Specified qdisc kind is unknown").
 * A small relay in the host's namespace owns a TUN device; policy routing sends every packet
 * the host itself sends into the TUN, the relay holds it for the delay (plus jitter) and writes
 * it back, and the kernel forwards it out of eth0 as if it had just been sent. Replies are not
 * held: a host's delay is one-way, on its outgoing packets, so the round trip between two hosts
 * grows by the sum of their delays.
 *
 * Python, because opening a TUN needs an ioctl that Node cannot make without an addon; python3
 * is a test prerequisite already. The relay keeps packets in order (jitter never reorders, as
 * a FIFO link would not) and copes with tens of MB/s, more than any slow link a test models.
 */
import type { Host } from './topology.js'

export const RELAY_DEV = 'tun0'
/** The routing table that sends the host's own packets into the relay. */
const TABLE = '100'

/** argv[1] device, argv[2] delay ms, argv[3] jitter ms. Prints `ready` once the device exists. */
export const RELAY_PY = `
import fcntl, os, random, select, struct, sys, time
name, delay, jitter = sys.argv[1], float(sys.argv[2]) / 1000, float(sys.argv[3]) / 1000
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', name.encode(), 0x1001))  # TUNSETIFF, IFF_TUN | IFF_NO_PI
print('ready', flush=True)
queue, last = [], 0.0
while True:
    wait = max(0.0, queue[0][0] - time.monotonic()) if queue else None
    readable, _, _ = select.select([fd], [], [], wait)
    if readable:
        due = max(last, time.monotonic() + max(0.0, delay + random.uniform(-jitter, jitter)))
        queue.append((due, os.read(fd, 65536)))
        last = due
    while queue and queue[0][0] <= time.monotonic():
        os.write(fd, queue.pop(0)[1])
`

/** The relay's command line, run in the host's namespace. */
export function relayArgv (host: Host): string[] {
  return ['python3', '-c', RELAY_PY, RELAY_DEV, String(host.spec.delayMs ?? 0), String(host.spec.jitterMs ?? 0)]
}

/**
 * Routing that sends the host's own packets through the relay once it runs: rule `iif lo`
 * (locally sent) -> table 100 -> the TUN; what comes back out of the TUN is forwarded by the
 * main table. The local table still comes first, so loopback traffic is not delayed.
 */
export function relayRouting (host: Host): string[][] {
  const ns = host.ns
  const sysctl = (key: string): string[] => ['ip', 'netns', 'exec', ns, 'sysctl', '-qw', key]
  return [
    ['ip', '-n', ns, 'link', 'set', RELAY_DEV, 'up'],
    sysctl('net.ipv4.ip_forward=1'),
    sysctl('net.ipv4.conf.all.rp_filter=0'),
    sysctl(`net.ipv4.conf.${RELAY_DEV}.rp_filter=0`),
    // The packets come back in with the host's own source address, which is martian otherwise.
    sysctl(`net.ipv4.conf.${RELAY_DEV}.accept_local=1`),
    ['ip', '-n', ns, 'route', 'add', 'default', 'dev', RELAY_DEV, 'table', TABLE, 'src', host.ip],
    ['ip', '-n', ns, 'rule', 'add', 'iif', 'lo', 'lookup', TABLE, 'pref', '100']
  ]
}

/** Undoes relayRouting's rule once the relay has exited (its TUN device, and the route with it, are gone). */
export function relayUnrouting (host: Host): string[][] {
  return [['ip', '-n', host.ns, 'rule', 'del', 'pref', '100']]
}
