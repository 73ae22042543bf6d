/**
 * dataSync() on the webgpu backend in Node.
 *
 * tfjs's own synchronous read draws the buffer into an OffscreenCanvas, which Node lacks; and a
 * GPU buffer is read only through mapAsync, whose completion dawn.node delivers when its event
 * tick runs. dawn queues that tick with `globalThis.setImmediate(nativeTick)` and re-queues it
 * while work is pending. Capturing the tick lets a synchronous read run it in a loop until its
 * staging buffer is mapped, without waiting for the event loop (which cannot turn inside a sync
 * call). hddm reads small values synchronously (a loss, a norm, a checkpoint's weights), so
 * this keeps one code path for every backend.
 */
import * as tf from '@tensorflow/tfjs'

type Tick = () => void
type SetImmediate = (fn: (...args: unknown[]) => void, ...args: unknown[]) => unknown

let capturing = false
let pumping = false
/** The last tick dawn queued; any of them processes the same instance's events. */
let lastTick: Tick | undefined
/** A tick dawn queued during a pump, to hand to the real event loop afterwards. */
let deferredTick: Tick | undefined
/** Whether a dawn tick sits in the real immediate queue (at most one chain is kept). */
let queued = false
let realSetImmediate: SetImmediate | undefined

/** dawn's tick is an anonymous native function; the name test spares most callbacks the toString. */
const isNative = (fn: unknown): boolean =>
  typeof fn === 'function' && fn.name === '' && Function.prototype.toString.call(fn).endsWith('{ [native code] }')

/** Wraps globalThis.setImmediate once per thread, before dawn.node makes its first GPU object. */
export function startPumpCapture (): void {
  if (capturing) return
  capturing = true
  const real = realSetImmediate = globalThis.setImmediate as unknown as SetImmediate
  const wrapped = (fn: (...args: unknown[]) => void, ...args: unknown[]): unknown => {
    if (!isNative(fn) || args.length > 0) return real(fn, ...args)
    lastTick = fn as Tick
    if (pumping) { deferredTick = fn as Tick; return undefined }
    return queueReal(fn as Tick)
  }
  Object.assign(wrapped, globalThis.setImmediate)
  globalThis.setImmediate = wrapped as unknown as typeof globalThis.setImmediate
}

function queueReal (tick: Tick): unknown {
  queued = true
  return realSetImmediate?.(() => { queued = false; tick() })
}

/** Runs dawn's event processing until `done()`; sleeps a little between polls to leave the cores to the driver. */
export function pumpUntil (done: () => boolean, timeoutMs = 600_000): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4))
  const start = performance.now()
  pumping = true
  try {
    for (let i = 0; !done(); i++) {
      const tick = deferredTick ?? lastTick
      deferredTick = undefined
      if (tick === undefined) throw new Error('webgpu: no dawn event tick was captured; cannot read synchronously')
      tick()
      if (done()) break
      if (performance.now() - start > timeoutMs) throw new Error(`webgpu: a synchronous read waited ${timeoutMs} ms`)
      // Spin briefly (small reads finish in microseconds), then back off up to 1 ms.
      if (i > 16) Atomics.wait(sleeper, 0, 0, Math.min(1, (i - 16) * 0.05))
    }
  } finally {
    pumping = false
    const tick = deferredTick
    deferredTick = undefined
    if (tick !== undefined && !queued) queueReal(tick)
  }
}

interface GpuBuffer {
  size: number
  mapState: string
  mapAsync: (mode: number) => Promise<void>
  getMappedRange: () => ArrayBuffer
  unmap: () => void
}
interface TensorData { values: tf.backend_util.BackendValues | null, dtype: tf.DataType, resource: GpuBuffer | null }
interface BackendInternals {
  tensorMap: { get: (id: object) => TensorData }
  bufferManager: { acquireBuffer: (size: number, usage: number) => GpuBuffer, releaseBuffer: (b: GpuBuffer) => void }
  commandEncoder: { copyBufferToBuffer: (...args: unknown[]) => void }
  ensureCommandEncoderReady: () => void
  endComputePassEncoder: () => void
  submitQueue: () => void
  convertAndCacheOnCPU: (id: object, values: tf.backend_util.BackendValues) => tf.backend_util.BackendValues
  readSync: (id: object) => tf.backend_util.BackendValues
}

const patched = new WeakSet<object>()

/** Replaces WebGPUBackend.prototype.readSync with the mapAsync + pump read (same result as `read`). */
export function installSyncRead (prototype: object): void {
  if (patched.has(prototype)) return
  patched.add(prototype)
  const proto = prototype as BackendInternals
  const canvasRead = proto.readSync
  proto.readSync = function (this: BackendInternals, dataId: object): tf.backend_util.BackendValues {
    const data = this.tensorMap.get(dataId)
    // Values already on the CPU, strings and complex numbers: tfjs's own path needs no canvas.
    if (data.values != null || data.dtype === 'string' || data.resource == null) return canvasRead.call(this, dataId)
    const g = globalThis as unknown as { GPUBufferUsage: Record<string, number>, GPUMapMode: Record<string, number> }
    const source = data.resource
    const staging = this.bufferManager.acquireBuffer(source.size, g.GPUBufferUsage.COPY_DST | g.GPUBufferUsage.MAP_READ)
    this.ensureCommandEncoderReady()
    this.endComputePassEncoder()
    this.commandEncoder.copyBufferToBuffer(source, 0, staging, 0, source.size)
    this.submitQueue()
    let failed: unknown
    staging.mapAsync(g.GPUMapMode.READ).catch((err: unknown) => { failed = err })
    pumpUntil(() => staging.mapState !== 'pending' || failed !== undefined)
    if (staging.mapState !== 'mapped') throw new Error(`webgpu: reading a tensor failed: ${String(failed)}`)
    const bytes = staging.getMappedRange().slice(0)
    staging.unmap()
    this.bufferManager.releaseBuffer(staging)
    const values = tf.util.convertBackendValuesAndArrayBuffer(bytes, data.dtype)
    return this.convertAndCacheOnCPU(dataId, values)
  }
}
