/**
 * Seeded image augmentations for self-supervised training of the clustering encoder: two
 * views of one image must keep what it depicts and change how it is drawn (position, size,
 * slant, stroke width), so that the encoder learns the first and ignores the second.
 * Output values are in [-1, 1] (background -1), like every network input here.
 */
import { InvalidArgumentError } from '../hddm-error.js'
import type { Random } from './random.js'

export interface AugmentInit {
  /** Largest rotation either way, in degrees. */
  maxRotation: number
  /** Scale drawn from [1 - s, 1 + s], per axis with `maxAspect` more on one of them. */
  maxScale: number
  maxAspect: number
  maxShear: number
  /** Largest shift in pixels, per axis. */
  maxShift: number
  /**
   * Probability of thickening (max over the 4-neighbourhood) or, as often, thinning the strokes
   * (halfway to the 4-neighbourhood min: a full min erases strokes two pixels wide).
   */
  morphology: number
  /** Probability of a horizontal mirror (garments and shoes; not digits). */
  flip: number
  /** Probability of blanking one random rectangle of up to a third of the side. */
  erase: number
}

export const DIGIT_AUGMENT: AugmentInit = {
  maxRotation: 15, maxScale: 0.15, maxAspect: 0.1, maxShear: 0.25, maxShift: 3, morphology: 0.4, flip: 0, erase: 0.25
}
export const GARMENT_AUGMENT: AugmentInit = {
  maxRotation: 10, maxScale: 0.15, maxAspect: 0.1, maxShear: 0.15, maxShift: 3, morphology: 0.2, flip: 0.5, erase: 0.25
}

/**
 * One augmented view of a single-channel image `src` (uint8, width x height) into `out`
 * (float, [-1, 1]): an inverse-mapped affine warp with bilinear sampling, then optional
 * morphology and erasing.
 */
export function augmentView (
  src: Uint8Array, width: number, height: number, init: AugmentInit, random: Random, out: Float32Array
): void {
  if (src.length !== width * height || out.length !== width * height) {
    throw new InvalidArgumentError('augmentView works on single-channel images of the given size')
  }
  const u = (): number => 2 * random.nextFloat() - 1
  const angle = u() * init.maxRotation * Math.PI / 180
  const scale = 1 + u() * init.maxScale
  const aspect = 1 + u() * init.maxAspect
  const sx = scale * aspect
  const sy = scale / aspect
  const shear = u() * init.maxShear
  const flip = random.nextFloat() < init.flip ? -1 : 1
  const tx = u() * init.maxShift
  const ty = u() * init.maxShift
  // Forward map A = R(angle) [sx, shear; 0, sy] diag(flip, 1); sample src at A^-1 (p - c - t) + c.
  const cos = Math.cos(angle)
  const sin = Math.sin(angle)
  const a00 = (cos * sx) * flip
  const a01 = cos * shear - sin * sy
  const a10 = (sin * sx) * flip
  const a11 = sin * shear + cos * sy
  const det = a00 * a11 - a01 * a10
  const i00 = a11 / det
  const i01 = -a01 / det
  const i10 = -a10 / det
  const i11 = a00 / det
  const cx = (width - 1) / 2
  const cy = (height - 1) / 2
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dx = x - cx - tx
      const dy = y - cy - ty
      out[y * width + x] = bilinear(src, width, height, i00 * dx + i01 * dy + cx, i10 * dx + i11 * dy + cy) / 127.5 - 1
    }
  }
  if (random.nextFloat() < init.morphology) {
    const thicken = random.nextFloat() < 0.5
    morph(out, width, height, thicken ? Math.max : Math.min, thicken ? 1 : 0.5)
  }
  if (random.nextFloat() < init.erase) {
    const w = 1 + random.nextInt(Math.max(1, Math.floor(width / 3)))
    const h = 1 + random.nextInt(Math.max(1, Math.floor(height / 3)))
    const x0 = random.nextInt(width - w + 1)
    const y0 = random.nextInt(height - h + 1)
    for (let y = y0; y < y0 + h; y++) out.fill(-1, y * width + x0, y * width + x0 + w)
  }
}

function bilinear (src: Uint8Array, width: number, height: number, x: number, y: number): number {
  const x0 = Math.floor(x)
  const y0 = Math.floor(y)
  const fx = x - x0
  const fy = y - y0
  const at = (xi: number, yi: number): number => {
    const outside = xi < 0 || yi < 0 || xi >= width || yi >= height
    return outside ? 0 : src[yi * width + xi]
  }
  const top = (1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)
  const bottom = (1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1)
  return (1 - fy) * top + fy * bottom
}

const NEIGHBOURS = [[0, -1], [-1, 0], [1, 0], [0, 1]] as const

/** In place: each pixel moves `amount` of the way to the max (thicker) or min (thinner) of its 4-neighbourhood. */
function morph (
  img: Float32Array, width: number, height: number, pick: (a: number, b: number) => number, amount: number
): void {
  const src = Float32Array.from(img)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const own = src[y * width + x]
      let v = own
      for (const [dx, dy] of NEIGHBOURS) {
        const xx = x + dx
        const yy = y + dy
        if (xx >= 0 && yy >= 0 && xx < width && yy < height) v = pick(v, src[yy * width + xx])
      }
      img[y * width + x] = own + amount * (v - own)
    }
  }
}
