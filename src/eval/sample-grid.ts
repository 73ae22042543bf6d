/**
 * A picture of evaluation samples: one row per prompt, in the order the prompts first appear
 * (balanced prompts cycle through the class names, so rows run zero, one, ...), `perRow`
 * samples each. The same picture for `hddm-node eval --grid`, `simulate` and the experiment.
 */
import { imageGrid } from '../data/png.js'

export function promptGrid (
  images: Float32Array, shape: [number, number, number, number], prompts: string[], perRow = 8
): Uint8Array {
  const [, h, w, c] = shape
  const size = h * w * c
  const classes = [...new Set(prompts)]
  const cols = Math.max(1, Math.min(perRow, Math.floor(prompts.length / classes.length)))
  const pixels = new Float32Array(classes.length * cols * size)
  let n = 0
  for (const p of classes) {
    const samples = prompts.flatMap((q, j) => q === p ? [j] : []).slice(0, cols)
    for (const i of samples) pixels.set(images.subarray(i * size, (i + 1) * size), (n++) * size)
  }
  return imageGrid({ width: w, height: h, channels: c, pixels: pixels.subarray(0, n * size) }, { cols, scale: 2 })
}
