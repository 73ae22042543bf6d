/**
 * An imported expert (or any AdaLN-Zero one) as the starting weights of one of hddm's presets,
 * for `train --init` (docs/MODEL.md, "Training from an import"):
 *   1. class labels -> text: hddm's runs are prompted, so the label table goes and its null row
 *      (DiT's "no label", what classifier-free guidance samples from) is folded into the time
 *      MLP's last bias: c = t_emb + y_null stays what every block reads. The text path (token
 *      table, caption projection, cross-attention) starts fresh; its zero-initialised output
 *      projection adds nothing at step 0, so the network starts as the import's unconditional
 *      model.
 *   2. learned-variance channels dropped from the final layer (hddm regresses eps or v only).
 *   3. AdaLN-Zero -> AdaLN-Single when the preset is AdaLN-Single (adaln-single.ts).
 * The time frequencies and MLP LayerNorm eps of the import stay (`inherited`): the time MLP was
 * trained on them.
 */
import { ShapeMismatchError } from '../errors.js'
import { checkedShape, type Checkpoint } from '../format.js'
import type { NamedTensor } from '../safetensors.js'
import type { DiTConfig } from '../../model/config.js'
import { validateExpertConfig } from '../../model/validate.js'
import { adaLNZeroToSingle, type AdaLNSingleOptions } from './adaln-single.js'
import { epsColumns, need } from './tensors.js'

export interface AdaptedInit {
  /** hddm's names for `target`; what is missing starts fresh. */
  tensors: Map<string, NamedTensor>
  /** Fields of the import's config the target must keep (time frequencies, MLP eps). */
  inherited: Pick<DiTConfig, 'timeFrequencyShift' | 'mlpNormEps'>
  /** Parameters the model keeps from its own initialisation (the text path of a class import). */
  fresh: (name: string) => boolean
}

const SHAPE_KEYS = ['imageSize', 'channels', 'patchSize', 'hidden', 'depth', 'heads', 'mlpRatio'] as const

/** An `hddm-node import` output: its text path, if any, is a placeholder (PixArt's was dropped). */
function isImport (c: Checkpoint): boolean {
  return (c.metadata.extra as { imported?: unknown } | undefined)?.imported !== undefined
}

/**
 * True when `source` cannot be copied into `target` name for name and needs adaptInit: an import,
 * or another AdaLN kind. (An hddm checkpoint whose text path is another run's still fails the
 * copy with ShapeMismatchError, as before: only an import's text path starts fresh.)
 */
export function needsAdapting (source: Checkpoint, target: DiTConfig): boolean {
  const c = source.metadata.config as unknown as DiTConfig
  return isImport(source) || c.conditioning === 'class' || c.learnSigma === true || c.adaln !== target.adaln
}

export function adaptInit (source: Checkpoint, target: DiTConfig, options: AdaLNSingleOptions = {}): AdaptedInit {
  const config = source.metadata.config as unknown as DiTConfig
  checkedShape(() => { validateExpertConfig(config) })
  const differing = SHAPE_KEYS.filter(k => config[k] !== target[k])
  if (differing.length > 0) {
    const diff = differing.map(k => `${k} ${config[k]} vs ${target[k]}`).join(', ')
    throw new ShapeMismatchError(`the init checkpoint's shape is not the preset's: ${diff}`)
  }
  if (config.adaln === 'single' && target.adaln === 'zero') {
    throw new ShapeMismatchError('an AdaLN-Single init cannot start an AdaLN-Zero expert')
  }
  const tensors = new Map(source.tensors)
  const D = config.hidden
  const textPath = [/^text_encoder\./, /^y_embedder\.proj\./]
  const freshPatterns = config.conditioning === 'class' ? [...textPath, /^blocks\.\d+\.cross_attn\./] : []
  if (config.conditioning === 'class') foldNullLabel(tensors, config.numClasses as number, D)
  else if (isImport(source)) freshPatterns.push(...textPath)
  const fresh = (name: string): boolean => freshPatterns.some(p => p.test(name))
  for (const name of [...tensors.keys()]) if (fresh(name)) tensors.delete(name)
  if (config.learnSigma === true) {
    const out = config.patchSize ** 2 * 2 * config.channels
    const w = need(tensors, 'final_layer.linear.weight', [D, out])
    const { weight, bias } = epsColumns(w, need(tensors, 'final_layer.linear.bias', [out]), config.channels)
    tensors.set('final_layer.linear.weight', weight)
    tensors.set('final_layer.linear.bias', bias)
  }
  if (config.adaln === 'zero' && target.adaln === 'single') adaLNZeroToSingle(tensors, config, options)
  const inherited = {
    ...(config.timeFrequencyShift !== undefined ? { timeFrequencyShift: config.timeFrequencyShift } : {}),
    ...(config.mlpNormEps !== undefined ? { mlpNormEps: config.mlpNormEps } : {})
  }
  return { tensors, inherited, fresh }
}

/** c = t_emb + y_null: the null label's row added to the time MLP's output bias, the table dropped. */
function foldNullLabel (tensors: Map<string, NamedTensor>, numClasses: number, D: number): void {
  const table = need(tensors, 'y_embedder.embedding_table', [numClasses + 1, D])
  const bias = need(tensors, 't_embedder.mlp.2.bias', [D])
  const folded = Float32Array.from(bias.data, (v, j) => v + table.data[numClasses * D + j])
  tensors.set('t_embedder.mlp.2.bias', { shape: bias.shape, data: folded })
  tensors.delete('y_embedder.embedding_table')
}

