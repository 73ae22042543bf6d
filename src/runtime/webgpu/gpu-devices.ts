/**
 * Whether this Linux machine has a GPU a Vulkan driver could drive, read from /dev without
 * loading dawn. `auto` only wants a GPU; asking dawn for an adapter where only a software one
 * exists (Mesa's lavapipe) costs most of a second and prints dawn's driver warnings on every
 * command, to end in a refusal anyway. Driver manifests cannot tell: mesa-vulkan-drivers installs
 * radeon, intel and virtio manifests on machines without those GPUs, so the device nodes decide.
 */
import { readdirSync } from 'node:fs'

/** Mesa's drivers (radv, anv, nouveau, virtio) open a DRM render node; NVIDIA's open /dev/nvidia*. */
const GPU_NODES: Array<{ dir: string, name: RegExp }> = [
  { dir: '/dev/dri', name: /^renderD\d+$/ },
  { dir: '/dev', name: /^nvidia\d+$/ }
]

/**
 * Why `auto` need not try webgpu here, or undefined where a GPU may exist: another OS (Metal,
 * Direct3D), a Vulkan override variable (someone chose the drivers), or a GPU device node.
 */
export function noGpuDevice (
  env: NodeJS.ProcessEnv = process.env, devices = GPU_NODES, platform: NodeJS.Platform = process.platform
): string | undefined {
  if (platform !== 'linux') return undefined
  if ([env.VK_ICD_FILENAMES, env.VK_DRIVER_FILES, env.VK_ADD_DRIVER_FILES].some(v => v !== undefined && v !== '')) {
    return undefined
  }
  const found = devices.some(({ dir, name }) => {
    try {
      return readdirSync(dir).some(entry => name.test(entry))
    } catch {
      return false
    }
  })
  return found ? undefined : 'no GPU device (/dev/dri/renderD*, /dev/nvidia*): only a software adapter could answer'
}
