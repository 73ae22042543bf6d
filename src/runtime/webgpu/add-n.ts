/**
 * tf.addN on webgpu binds every input as a storage buffer of one shader, and tfjs 4.22 does not
 * split a long list (its concat does): 45 gradient norms summed at once (clipGradients) exceed
 * the device's maxStorageBuffersPerShaderStage and the sum comes back invalid. This kernel adds
 * in groups of at most (limit - 1) inputs, one buffer being the output, as tfjs's concat does.
 */
import * as tf from '@tensorflow/tfjs'

interface DeviceBackend extends tf.KernelBackend {
  device: { limits: { maxStorageBuffersPerShaderStage: number } }
  disposeData: (id: tf.DataId) => boolean
}

/** Replaces the webgpu AddN kernel with the grouped one; returns a function that puts tfjs's back. */
export function installGroupedAddN (): () => void {
  const original = tf.getKernel(tf.AddN, 'webgpu')
  if (original === undefined) return () => {}
  const kernelFunc: tf.KernelFunc = ({ inputs, backend, attrs }) => {
    // AddN's inputs are an array (tf.addN passes its list as is).
    const all = inputs as unknown as tf.TensorInfo[]
    const group = (backend as DeviceBackend).device.limits.maxStorageBuffersPerShaderStage - 1
    if (all.length <= group) return original.kernelFunc({ inputs, backend, attrs })
    const partial: tf.TensorInfo[] = []
    for (let i = 0; i < all.length; i += group) {
      const slice = all.slice(i, i + group)
      const some = slice as unknown as tf.NamedTensorInfoMap
      partial.push(original.kernelFunc({ inputs: some, backend, attrs }) as tf.TensorInfo)
    }
    const sum = kernelFunc({ inputs: partial as unknown as tf.NamedTensorInfoMap, backend, attrs }) as tf.TensorInfo
    for (const p of partial) (backend as DeviceBackend).disposeData(p.dataId)
    return sum
  }
  tf.unregisterKernel(tf.AddN, 'webgpu')
  tf.registerKernel({ kernelName: tf.AddN, backendName: 'webgpu', kernelFunc })
  return () => {
    tf.unregisterKernel(tf.AddN, 'webgpu')
    tf.registerKernel(original)
  }
}
