/**
 * `auto` asks dawn for an adapter only where a GPU could answer: the device-node check, on
 * directories made here and for each platform (the real /dev decides on the machine; the ensemble CLI test checks that
 * auto on a GPU-less CI machine prints none of dawn's warnings).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { noGpuDevice } from '../../src/runtime/webgpu/gpu-devices.js'

describe('GPU device check', () => {
  let dev: string
  beforeAll(async () => { dev = await mkdtemp(join(tmpdir(), 'hddm-dev-')) })
  afterAll(async () => { await rm(dev, { recursive: true, force: true }) })
  const nodes = (): Array<{ dir: string, name: RegExp }> => [{ dir: dev, name: /^renderD\d+$/ }]

  it('finds no GPU without a render node, and says so', () => {
    expect(noGpuDevice({}, nodes(), 'linux')).toMatch(/^no GPU device/)
    expect(noGpuDevice({}, [{ dir: join(dev, 'missing'), name: /^renderD\d+$/ }], 'linux')).toMatch(/^no GPU device/)
  })

  it('leaves the question to dawn on other systems (Metal, Direct3D need no device node)', () => {
    expect(noGpuDevice({}, nodes(), 'darwin')).toBeUndefined()
    expect(noGpuDevice({}, nodes(), 'win32')).toBeUndefined()
  })

  it('leaves the question to dawn when a render node exists or someone chose the Vulkan drivers', async () => {
    const icd = { VK_ICD_FILENAMES: '/usr/share/vulkan/icd.d/lvp_icd.json' }
    expect(noGpuDevice(icd, nodes(), 'linux')).toBeUndefined()
    expect(noGpuDevice({ VK_DRIVER_FILES: '/x.json' }, nodes(), 'linux')).toBeUndefined()
    // An empty variable is no choice; a later one still counts.
    expect(noGpuDevice({ VK_ICD_FILENAMES: '', VK_ADD_DRIVER_FILES: '/y.json' }, nodes(), 'linux')).toBeUndefined()
    expect(noGpuDevice({ VK_ICD_FILENAMES: '' }, nodes(), 'linux')).toMatch(/^no GPU device/)
    await writeFile(join(dev, 'renderD128'), '')
    expect(noGpuDevice({}, nodes(), 'linux')).toBeUndefined()
  })
})
