/**
 * Intra-prompt diversity: for each prompt, the mean Euclidean distance between the classifier
 * features of every pair of samples drawn for it; reported as mean +- std over prompts. A model
 * that collapses onto one image per prompt scores near 0; real test images of one class give
 * the reference value.
 */
import { InsufficientSamplesError } from './errors.js'

export interface DiversityResult {
  mean: number
  /** Population std over prompts. */
  std: number
  perPrompt: Record<string, number>
  /** Prompts with at least two samples (the others have no pair and are left out). */
  prompts: number
}

export function intraPromptDiversity (
  features: Float32Array, dim: number, prompts: readonly string[]
): DiversityResult {
  if (features.length !== prompts.length * dim) {
    const found = `${features.length} feature values for ${prompts.length} prompts`
    throw new InsufficientSamplesError(`${found} of ${dim} features`)
  }
  const groups = new Map<string, number[]>()
  prompts.forEach((p, i) => { const g = groups.get(p); if (g === undefined) groups.set(p, [i]); else g.push(i) })
  const perPrompt: Record<string, number> = {}
  for (const [prompt, rows] of [...groups].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
    if (rows.length < 2) continue
    let sum = 0
    let pairs = 0
    for (let a = 0; a < rows.length; a++) {
      for (let b = a + 1; b < rows.length; b++) {
        let d2 = 0
        const oa = rows[a] * dim
        const ob = rows[b] * dim
        for (let j = 0; j < dim; j++) d2 += (features[oa + j] - features[ob + j]) ** 2
        sum += Math.sqrt(d2)
        pairs++
      }
    }
    perPrompt[prompt] = sum / pairs
  }
  const values = Object.values(perPrompt)
  if (values.length === 0) throw new InsufficientSamplesError('no prompt has two samples')
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length)
  return { mean, std, perPrompt, prompts: values.length }
}

export interface PromptAccuracy {
  /** Fraction of samples the classifier assigns to the class their prompt names. */
  accuracy: number
  perPrompt: Record<string, number>
  /** Samples whose prompt names a class (the others, e.g. the null prompt, are left out). */
  count: number
}

export function promptAccuracy (
  predictions: Int32Array, prompts: readonly string[], classNames: readonly string[]
): PromptAccuracy {
  const hits = new Map<string, [number, number]>()
  let correct = 0
  let count = 0
  prompts.forEach((p, i) => {
    const label = classNames.indexOf(p)
    if (label < 0) return
    const h = hits.get(p) ?? [0, 0]
    const ok = predictions[i] === label ? 1 : 0
    h[0] += ok
    h[1] += 1
    hits.set(p, h)
    correct += ok
    count++
  })
  if (count === 0) throw new InsufficientSamplesError('no sample has a prompt that names a class')
  const byClass = [...hits].sort(([a], [b]) => classNames.indexOf(a) - classNames.indexOf(b))
  const perPrompt = Object.fromEntries(byClass.map(([p, [c, n]]) => [p, c / n]))
  return { accuracy: correct / count, perPrompt, count }
}
