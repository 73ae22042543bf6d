/**
 * Round trips of the test internet's links themselves: ICMP echoes, which the far host's kernel
 * answers, so no event loop on that side adds to them (tcp-probe.ts's `rtt` runs through two
 * Node processes). What remains is the two hosts' delay relays and the kernel, measured under
 * whatever load the machine has at the time: the floor under any protocol's latency.
 *
 * Python, as the delay relay is, since this machine has no `ping` and a raw socket needs no
 * addon there; root is needed anyway for the namespaces.
 */
import type { Internet } from './internet.js'

/** argv[1] address, argv[2] count, argv[3] interval ms. Prints a JSON array of ms (null: lost, 2 s). */
export const PING_PY = `
import json, os, select, socket, struct, sys, time
dst, count, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) / 1000
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xffff
def checksum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
rtts = []
for seq in range(count):
    payload = b'hddm-ping-' * 4
    head = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
    packet = struct.pack('!BBHHH', 8, 0, checksum(head + payload), ident, seq) + payload
    sent = time.monotonic()
    sock.sendto(packet, (dst, 0))
    rtt = None
    while rtt is None:
        ready, _, _ = select.select([sock], [], [], max(0.0, sent + 2 - time.monotonic()))
        if not ready:
            break
        data = sock.recv(2048)
        ihl = (data[0] & 0x0f) * 4
        kind, _, _, rid, rseq = struct.unpack('!BBHHH', data[ihl:ihl + 8])
        if kind == 0 and rid == ident and rseq == seq:
            rtt = (time.monotonic() - sent) * 1000
    rtts.append(rtt)
    time.sleep(max(0.0, interval - (time.monotonic() - sent)))
print(json.dumps(rtts))
`

/**
 * `count` ICMP echoes from `from` to `to`, `intervalMs` apart.
 * @returns the round trips in ms, undefined for an echo not answered within 2 s
 */
export async function icmpRtts (net: Internet, from: string, to: string, count: number, intervalMs = 100):
Promise<Array<number | undefined>> {
  const timeoutMs = count * (intervalMs + 2000) + 30_000
  const { stdout } = await net.exec(from, 'python3', ['-c', PING_PY, net.host(to).ip, String(count),
    String(intervalMs)], { timeoutMs })
  return (JSON.parse(stdout) as Array<number | null>).map((ms) => ms ?? undefined)
}
