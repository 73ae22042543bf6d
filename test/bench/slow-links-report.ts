/**
 * What the slow-links bench (slow-links.ts) prints and writes: the transfer and gossip tables
 * (Markdown, as docs/RESULTS.md takes them) and the test internet as an SVG picture.
 */
import { median, mibPerS, mbitPerS, percentile } from './slow-links-stats.js'
import type { HopStats, LinkProfile, RowResult } from './slow-links-run.js'

const ms = (x: number): string => `${x.toFixed(0)} ms`

export function linkLabel (p: LinkProfile): string {
  const rate = p.rateMbit !== undefined ? `${p.rateMbit} Mbit/s` : 'unlimited'
  const delay = (p.delayMs ?? 0) > 0 ? `, ${p.delayMs} ms +- ${p.jitterMs ?? 0} ms` : ''
  return `${p.name} (${rate}${delay})`
}

/** The stall threshold of a row: `stallRtts` round trips, never under 100 ms (an event-loop pause here). */
export function stallMs (row: RowResult, stallRtts: number): number {
  return Math.max(100, stallRtts * median(row.rttMs))
}

export function transferTable (rows: RowResult[], bytes: number, stallRtts: number): string {
  const head = '| link | RTT (ICMP, median) | round | raw TCP | libp2p stream | file transfer | file / link rate | ' +
    'file / stream | longest idle: file, stream | longest block gap | stalls |\n' +
    '|---|---|---|---|---|---|---|---|---|---|---|\n'
  const lines = rows.flatMap((row) => row.rounds.map((r, i) => {
    const rate = (t: number): string => `${ms(t)} (${mibPerS(bytes, t).toFixed(2)} MiB/s)`
    const link = row.profile.rateMbit !== undefined
      ? `${(100 * mbitPerS(bytes, r.fileMs) / row.profile.rateMbit).toFixed(0)}%`
      : 'n/a'
    const stall = stallMs(row, stallRtts)
    // Unshaped, the round trip is a fraction of a millisecond: an idle time there is this
    // machine's scheduling, so the stall test is for shaped rows only.
    const shaped = row.profile.rateMbit !== undefined || (row.profile.delayMs ?? 0) > 0
    const stalls = !shaped ? 'n/a' : r.file.maxIdleMs > stall ? `yes (> ${ms(stall)})` : `none (> ${ms(stall)})`
    return `| ${linkLabel(row.profile)} | ${median(row.rttMs).toFixed(1)} ms | ${i + 1} | ${rate(r.tcpMs)} | ` +
      `${rate(r.streamMs)} | ${rate(r.fileMs)} | ${link} | ${(100 * r.streamMs / r.fileMs).toFixed(0)}% | ` +
      `${ms(r.file.maxIdleMs)}, ${ms(r.stream.maxIdleMs)} | ${ms(r.file.maxBlockGapMs)} | ${stalls} |`
  }))
  return head + lines.join('\n')
}

export function gossipTable (rows: RowResult[]): string {
  const head = '| link | peers | delivered | p50 | p99 | max | p99 / one-way delay | all subscribed after | ' +
    'connections per node (min / median / max) | mesh peers (min / median / max) |\n' +
    '|---|---|---|---|---|---|---|---|---|---|\n'
  const spread = (xs: number[]): string => `${Math.min(...xs)} / ${median(xs)} / ${Math.max(...xs)}`
  return head + rows.map((row) => {
    const g = row.gossip
    const delay = row.profile.delayMs ?? 0
    const ratio = delay > 0 ? `${(g.p99 / delay).toFixed(1)}x` : 'n/a'
    return `| ${linkLabel(row.profile)} | ${g.peers} | ${g.delivered}/${g.expected} | ${g.p50.toFixed(1)} ms | ` +
      `${g.p99.toFixed(1)} ms | ${g.max.toFixed(1)} ms | ${ratio} | ${(g.joinMs / 1000).toFixed(1)} s | ` +
      `${spread(g.state.map((s) => s[0]))} | ${spread(g.state.map((s) => s[2]))} |`
  }).join('\n')
}

/** Where the gossip latency goes: one hop or forwarded, and how late the processes' event loops ran. */
export function gossipHopsTable (rows: RowResult[]): string {
  const head = '| link | from the publisher (one hop): n, p50, p99 | forwarded (two hops or more): n, p50, p99 | ' +
    'event-loop delay, worst peer\'s p99 / longest | link round trip meanwhile (ICMP): p50 / p99 / max |\n' +
    '|---|---|---|---|---|\n'
  const hop = (h: HopStats): string => h.count === 0 ? '0' : `${h.count}, ${ms(h.p50)}, ${ms(h.p99)}`
  return head + rows.map((row) => {
    const g = row.gossip
    const loop = `${ms(g.loopP99)} / ${ms(g.loopMax)}`
    const rtt = (p: number): string => percentile(g.linkRttMs, p).toFixed(1)
    const link = `${rtt(0.5)} / ${rtt(0.99)} / ${Math.max(...g.linkRttMs).toFixed(1)} ms`
    return `| ${linkLabel(row.profile)} | ${hop(g.direct)} | ${hop(g.forwarded)} | ${loop} | ${link} |`
  }).join('\n')
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

/**
 * The test internet of a row as a picture: the public hosts above the switch, the NAT routers
 * and the hosts behind them below it, every host's link labelled.
 */
export function topologySvg (row: RowResult, roles: Record<string, string>): string {
  const publicHosts = row.hosts.filter((h) => h.role === 'public')
  const routers = row.hosts.filter((h) => h.role === 'router')
  const privates = row.hosts.filter((h) => h.role === 'private')
  const w = 130
  const width = Math.max(publicHosts.length, routers.length, 1) * w + 40
  const out: string[] = []
  const box = (x: number, y: number, lines: string[], fill: string): void => {
    out.push(`<rect x="${x}" y="${y}" width="${w - 16}" height="${14 * lines.length + 10}" rx="6" ` +
      `fill="${fill}" stroke="#555"/>`)
    lines.forEach((l, i) => out.push(`<text x="${x + (w - 16) / 2}" y="${y + 17 + 14 * i}">${esc(l)}</text>`))
  }
  const busY = 120
  out.push(`<line x1="20" y1="${busY}" x2="${width - 20}" y2="${busY}" stroke="#333" stroke-width="4"/>`)
  out.push(`<text x="${width / 2}" y="${busY + 20}">switch (a bridge in its own namespace)</text>`)
  publicHosts.forEach((h, i) => {
    const x = 28 + i * w
    out.push(`<line x1="${x + (w - 16) / 2}" y1="62" x2="${x + (w - 16) / 2}" y2="${busY}" stroke="#888"/>`)
    box(x, 20, [h.name, h.ip, roles[h.name] ?? 'gossip peer'], '#eef5ff')
  })
  routers.forEach((r, i) => {
    const x = 28 + i * w
    const cx = x + (w - 16) / 2
    out.push(`<line x1="${cx}" y1="${busY}" x2="${cx}" y2="${busY + 40}" stroke="#888"/>`)
    box(x, busY + 40, [r.name, r.ip, 'MASQUERADE'], '#fff4e0')
    const home = privates[i]
    if (home !== undefined) {
      out.push(`<line x1="${cx}" y1="${busY + 92}" x2="${cx}" y2="${busY + 130}" stroke="#888"/>`)
      box(x, busY + 130, [home.name, home.ip, roles[home.name] ?? 'gossip peer'], '#eef5ff')
    }
  })
  const height = (routers.length > 0 ? busY + 200 : busY + 50) + 30
  const legend = [
    `every peer host's link (host to switch, or host to its router): ${linkLabel(row.profile)}, ` +
      'tbf both ways, the delay on what the host sends;',
    'routers\' uplinks unlimited; one hddm peer process per host; the bench\'s fast row runs the same hosts unshaped'
  ]
  legend.forEach((l, i) => out.push(`<text x="${width / 2}" y="${height - 26 + 14 * i}">${esc(l)}</text>`))
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="sans-serif" font-size="11" text-anchor="middle">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${out.join('\n')}\n</svg>\n`
}
