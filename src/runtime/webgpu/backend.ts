/**
 * The `webgpu` tfjs backend in Node: dawn.node (the optional `webgpu` package) gives Node the
 * browser's `navigator.gpu`, and @tensorflow/tfjs-backend-webgpu computes on it. On Linux dawn
 * reaches the GPU through Vulkan (libvulkan.so.1 and a driver's ICD: NVIDIA's, Mesa's radv,
 * or Mesa's lavapipe, the software adapter CI tests with).
 *
 * loadWebGpu asks for the adapter itself before tfjs does, so that a software (fallback)
 * adapter can be refused (auto) or accepted (`--backend webgpu`, tests) and every refusal
 * names its cause. Node has no OffscreenCanvas, which tfjs's synchronous read needs: see
 * sync-read.ts for the replacement that dataSync() uses here.
 *
 * @example
 * ```ts
 * const adapter = await loadWebGpu({ allowFallback: false, logger })  // throws WebGpuUnavailableError
 * // ... tf ops run on the GPU ...
 * unloadWebGpu()   // releases the device so that the process can exit
 * ```
 */
import * as tf from '@tensorflow/tfjs'
import { silentLogger, type Logger } from '../../logger.js'
import { WebGpuUnavailableError } from '../errors.js'
import { installGroupedAddN } from './add-n.js'
import { installSyncRead, startPumpCapture } from './sync-read.js'
import { noGpuDevice } from './gpu-devices.js'

export interface WebGpuAdapterInfo {
  vendor: string
  architecture: string
  description: string
  /** True for a software adapter (Mesa's lavapipe, SwiftShader): correct, but slower than the CPU paths. */
  isFallbackAdapter: boolean
  /** The limits of the device tfjs computes on (requested at the adapter's maximum). */
  limits: { maxStorageBufferBindingSize: number, maxBufferSize: number }
  features: string[]
}

export interface LoadWebGpuOptions {
  /** Accept a software adapter (tests, `--backend webgpu`); auto refuses it. */
  allowFallback: boolean
  logger?: Logger
}

/** What dawn.node's `create` returns: the `navigator.gpu` object. */
interface Gpu { requestAdapter: (options?: { powerPreference?: string }) => Promise<GpuAdapter | null> }
interface GpuLimits { [name: string]: number }
interface GpuAdapter {
  info?: { vendor?: string, architecture?: string, description?: string, device?: string, isFallbackAdapter?: boolean }
  isFallbackAdapter?: boolean
  features: Set<string>
  limits: GpuLimits
  requestDevice: (descriptor: unknown) => Promise<GpuDevice>
}
interface GpuDevice { limits: GpuLimits, destroy: () => void }

/** Set once per thread: dawn's globals cannot be installed twice, and one GPU object serves every load. */
let gpu: Gpu | undefined
let loaded: { device: GpuDevice, info: WebGpuAdapterInfo } | undefined
let addNInstalled = false

export async function loadWebGpu (options: LoadWebGpuOptions): Promise<WebGpuAdapterInfo> {
  const log = options.logger ?? silentLogger
  if (loaded !== undefined) {
    checkFallback(loaded.info, options.allowFallback)
    if (!await tf.setBackend('webgpu')) throw new WebGpuUnavailableError('device-failed', 'tfjs could not start webgpu')
    return loaded.info
  }
  const dawn = await importDawn()
  // Auto takes no software adapter: where there is no GPU, do not ask dawn.
  const noDriver = options.allowFallback ? undefined : noGpuDevice()
  if (noDriver !== undefined) throw new WebGpuUnavailableError('fallback-refused', noDriver)
  const navigatorGpu = gpu ??= installDawn(dawn)
  const webgpu = await import('@tensorflow/tfjs-backend-webgpu')
  // tfjs registers its own factory (priority 3: it would become the default backend of any
  // code that never chose one); ours below uses the adapter checked here, at priority 0.
  if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu')

  const adapter = await navigatorGpu.requestAdapter({ powerPreference: 'high-performance' })
  if (adapter === null) throw new WebGpuUnavailableError(...noAdapterCause())
  const partial = describe(adapter)
  checkFallback({ ...partial, limits: { maxStorageBufferBindingSize: 0, maxBufferSize: 0 } }, options.allowFallback)

  // The limits tfjs itself asks for: the adapter's maxima, so that large tensors fit.
  const names = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize',
    'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup']
  const requiredLimits = Object.fromEntries(names.map(n => [n, adapter.limits[n]]))
  const requiredFeatures = ['timestamp-query', 'bgra8unorm-storage'].filter(f => adapter.features.has(f))
  let device: GpuDevice
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits })
  } catch (err) {
    throw new WebGpuUnavailableError('device-failed', `the adapter refused a device: ${(err as Error).message}`)
  }
  const info: WebGpuAdapterInfo = {
    ...partial,
    limits: {
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxBufferSize: device.limits.maxBufferSize
    }
  }
  type BackendCtor = new (device: unknown, info: unknown) => tf.KernelBackend
  const WebGPUBackend = webgpu.WebGPUBackend as unknown as BackendCtor
  tf.registerBackend('webgpu', () => new WebGPUBackend(device, adapter.info), 0)
  installSyncRead(webgpu.WebGPUBackend.prototype)
  addNInstalled ||= (installGroupedAddN(), true)
  if (!await tf.setBackend('webgpu')) {
    device.destroy()
    throw new WebGpuUnavailableError('device-failed', 'tfjs could not start its webgpu backend on the device')
  }
  loaded = { device, info }
  log.info('webgpu adapter', { ...info, limits: undefined, features: undefined, ...info.limits })
  return info
}

/** Removes the backend and destroys its device (dawn keeps the process alive while one exists). */
export function unloadWebGpu (): void {
  const l = loaded
  loaded = undefined
  if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu')
  l?.device.destroy()
}

type Dawn = { create: (flags: string[]) => unknown, globals: object }

async function importDawn (): Promise<Dawn> {
  try {
    return await import('webgpu') as Dawn
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND'
    const reason = missing
      ? 'the optional package `webgpu` (dawn.node) is not installed: npm install webgpu@0.6.2'
      : `the package \`webgpu\` failed to load: ${(err as Error).message}`
    throw new WebGpuUnavailableError('package-missing', reason)
  }
}

/** dawn.node's globals (GPUBufferUsage, GPUMapMode, ...) and navigator.gpu, before tfjs-backend-webgpu loads. */
function installDawn (dawn: Dawn): Gpu {
  Object.assign(globalThis, dawn.globals)
  // dawn queues its event processing with setImmediate; sync-read.ts drives it during dataSync().
  startPumpCapture()
  const created = dawn.create([]) as Gpu
  const nav = (globalThis as { navigator?: object }).navigator
  if (nav === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: created }, configurable: true, writable: true })
  } else {
    Object.defineProperty(nav, 'gpu', { value: created, configurable: true, writable: true })
  }
  return created
}

function describe (adapter: GpuAdapter): Omit<WebGpuAdapterInfo, 'limits'> {
  const i = adapter.info ?? {}
  return {
    vendor: i.vendor ?? '',
    architecture: i.architecture ?? '',
    description: i.description !== undefined && i.description !== '' ? i.description : (i.device ?? ''),
    isFallbackAdapter: i.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false,
    features: [...adapter.features].sort()
  }
}

function checkFallback (info: WebGpuAdapterInfo, allowFallback: boolean): void {
  if (!info.isFallbackAdapter || allowFallback) return
  const name = info.description !== '' ? info.description : info.vendor
  throw new WebGpuUnavailableError('fallback-refused',
    `only a software adapter (${name}), slower than the CPU paths; --backend webgpu uses it anyway`)
}

/** A null adapter on Linux is usually a missing Vulkan loader or driver: say which. */
function noAdapterCause (): [ 'no-vulkan' | 'no-adapter', string ] {
  if (process.platform !== 'linux') return ['no-adapter', 'no WebGPU adapter (dawn found no usable GPU driver)']
  try {
    // dlopen of a library that is not a Node addon fails after loading it: only the message differs.
    process.dlopen({ exports: {} } as NodeJS.Module, 'libvulkan.so.1')
  } catch (err) {
    if (/cannot open shared object/.test((err as Error).message)) {
      return ['no-vulkan', 'the Vulkan loader libvulkan.so.1 is missing: apt-get install libvulkan1 ' +
        '(and a driver: the GPU vendor\'s, or mesa-vulkan-drivers from bookworm-backports for a software one)']
    }
  }
  return ['no-adapter', 'no WebGPU adapter: no Vulkan driver accepted by dawn (a GPU driver\'s Vulkan ICD, or ' +
    'mesa-vulkan-drivers >= 25 from bookworm-backports; Debian 12\'s Mesa 22 is refused)']
}
