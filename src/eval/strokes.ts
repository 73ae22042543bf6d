/**
 * How whole the strokes of drawn digits are. FID on the classifier's features barely sees
 * broken, speckled strokes: at 2 000 steps per expert the FM ensemble scored a better FID than
 * the monolith while 19% of its digits were one stroke against 86% of the monolith's
 * (docs/RESULTS.md, "The table at 2 000 steps per expert"). A clean handwritten digit is one
 * 4-connected piece of ink (an "i"-like gap makes two); 91.5% of MNIST's test digits are one.
 */

/** Ink: a pixel above half intensity. */
const INK = 127
/** A bright pixel is isolated when no 4-neighbour reaches a quarter of full intensity. */
const FAINT = 64

export interface StrokeStatistics {
  images: number
  /** Pieces of ink per image, mean. */
  meanPieces: number
  /** Share of images whose ink is one piece. */
  whole: number
  /** Ink pixels with no 4-neighbour above a quarter intensity, per image: speckle. */
  isolatedPerImage: number
  /** Total variation over total intensity: higher for noisy, fragmented strokes. */
  edgePerInk: number
  /**
   * Ink pixels per image: stroke weight. Our FID punishes evenly thickened strokes far more than
   * broken ones (docs/RESULTS.md, "What our FID sees"), so a row's FID needs this beside it too.
   */
  inkPerImage: number
}

/** Number of 4-connected pieces of ink in one `side` x `side` image of bytes. */
export function strokePieces (image: Uint8Array, side: number): number {
  const seen = new Uint8Array(side * side)
  const stack: number[] = []
  let pieces = 0
  for (let start = 0; start < side * side; start++) {
    if (image[start] <= INK || seen[start] === 1) continue
    pieces++
    seen[start] = 1
    stack.push(start)
    while (stack.length > 0) {
      const p = stack.pop() as number
      const row = Math.floor(p / side)
      const col = p % side
      const neighbours = [row > 0 ? p - side : -1, row < side - 1 ? p + side : -1,
        col > 0 ? p - 1 : -1, col < side - 1 ? p + 1 : -1]
      for (const q of neighbours) {
        if (q >= 0 && seen[q] === 0 && image[q] > INK) {
          seen[q] = 1
          stack.push(q)
        }
      }
    }
  }
  return pieces
}

/** Stroke statistics of `images`, [N, side, side] bytes in one array (as evaluations keep samples). */
export function strokeStatistics (images: Uint8Array, side: number): StrokeStatistics {
  const pixels = side * side
  const n = Math.floor(images.length / pixels)
  let pieces = 0
  let whole = 0
  let isolated = 0
  let edge = 0
  let ink = 0
  let inkPixels = 0
  for (let i = 0; i < n; i++) {
    const image = images.subarray(i * pixels, (i + 1) * pixels)
    const count = strokePieces(image, side)
    pieces += count
    if (count === 1) whole++
    for (let p = 0; p < pixels; p++) {
      const row = Math.floor(p / side)
      const col = p % side
      ink += image[p]
      if (col < side - 1) edge += Math.abs(image[p] - image[p + 1])
      if (row < side - 1) edge += Math.abs(image[p] - image[p + side])
      const around = Math.max(row > 0 ? image[p - side] : 0, row < side - 1 ? image[p + side] : 0,
        col > 0 ? image[p - 1] : 0, col < side - 1 ? image[p + 1] : 0)
      if (image[p] > INK) inkPixels++
      if (image[p] > INK && around < FAINT) isolated++
    }
  }
  return {
    images: n,
    meanPieces: n === 0 ? 0 : pieces / n,
    whole: n === 0 ? 0 : whole / n,
    isolatedPerImage: n === 0 ? 0 : isolated / n,
    edgePerInk: ink === 0 ? 0 : edge / ink,
    inkPerImage: n === 0 ? 0 : inkPixels / n
  }
}
