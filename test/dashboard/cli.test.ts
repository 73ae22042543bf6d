import { EventEmitter } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { startDashboard } from '../../src/cli/dashboard-option.js'
import { startSwarmDashboard } from '../../src/cli/simulate-dashboard.js'
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js'
import { silentLogger } from '../../src/logger.js'
import type { Peer } from '../../src/cli/simulate-peers.js'

const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop()
})

async function started (dashboard: Dashboard | undefined): Promise<Dashboard> {
  if (dashboard === undefined) throw new Error('no dashboard')
  stops.push(async () => { await dashboard.stop() })
  return dashboard
}

describe('--dashboard', () => {
  it('is absent without the flag, and fails with DashboardListenError on a busy port', async () => {
    expect(await startDashboard(undefined, { logger: silentLogger })).toBeUndefined()
    expect(await startDashboard(false, { logger: silentLogger })).toBeUndefined()
    const first = await started(await startDashboard({ host: '127.0.0.1', port: 0 }, { logger: silentLogger }))
    const port = Number(new URL(first.url).port)
    await expect(startDashboard({ host: '127.0.0.1', port }, { logger: silentLogger }))
      .rejects.toMatchObject({ name: 'DashboardListenError' })
  })

  it('refuses the sample action when sampling is off (read-only)', async () => {
    const dashboard = await started(createDashboard({ sampling: false }))
    await dashboard.start()
    const res = await fetch(new URL('/api/sample', dashboard.url), {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"ensemble":"x","prompt":"seven"}'
    })
    expect(res.status).toBe(403)
    expect(((await res.json()) as { error: string }).error).toMatch(/read-only/)
  })
})

describe('simulate\'s dashboard', () => {
  it('prints its URL and records the contributors\' steps and phases from their JSON events', async () => {
    const said: string[] = []
    const swarm = await startSwarmDashboard({ host: '127.0.0.1', port: 0 }, (line) => { said.push(line) }, silentLogger)
    if (swarm === undefined) throw new Error('no dashboard')
    stops.push(swarm.stop)
    expect(said).toEqual([expect.stringMatching(/^dashboard http:\/\/127\.0\.0\.1:\d+\/ /)])
    const events = new EventEmitter<{ line: [Record<string, unknown>] }>()
    swarm.watch('node-2', { events } as unknown as Peer)
    events.emit('line', { event: 'task', ts: 1, task: 'expert-1', phase: 'training' })
    const step = { task: 'expert-1', step: 5, totalSteps: 20, loss: 0.7, imagesPerSecond: 90, etaSeconds: 3 }
    events.emit('line', { event: 'step', ts: 2, ...step })
    const url = said[0].split(' ')[1]
    const state = await (await fetch(new URL('/api/state', url))).json() as {
      steps: Array<Record<string, unknown>>, log: Array<{ text: string }>
    }
    expect(state.steps).toEqual([expect.objectContaining({ who: 'node-2', task: 'expert-1', step: 5, loss: 0.7 })])
    expect(state.log.map((l) => l.text)).toEqual(['node-2 expert-1: training'])
  })
})
