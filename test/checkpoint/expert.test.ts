import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { Tokenizer } from '../../src/data/tokenizer.js'
import { loadRouter } from '../../src/checkpoint/router.js'
import { EXPERT_PRESETS, ROUTER_PRESETS } from '../../src/model/config.js'
import { DiT } from '../../src/model/dit.js'
import { Router } from '../../src/model/router.js'
import { CHECKPOINT_FORMAT, paramsToTensors, type Checkpoint } from '../../src/checkpoint/format.js'
import { loadExpert } from '../../src/checkpoint/expert.js'

beforeAll(async () => { await tf.setBackend('cpu') })

const tokenizer = Tokenizer.fromPrompts(['zero', 'one'], { maxLength: 4 })
const config = { ...EXPERT_PRESETS.tiny, vocabSize: tokenizer.vocabSize, promptTokens: 4 }

function expertCheckpoint (over: Record<string, unknown> = {}): Checkpoint {
  const model = new DiT(config, 1)
  const tensors = paramsToTensors(model.params)
  model.dispose()
  return {
    metadata: {
      format: CHECKPOINT_FORMAT, network: 'expert', config: { ...config, ...over },
      objective: 'fm', step: 1, extra: { tokenizer: tokenizer.toJSON() }
    },
    tensors
  }
}

describe('loading a network from a checkpoint someone else wrote', () => {
  it('loads an honest one', () => {
    const expert = loadExpert(expertCheckpoint())
    expect(expert.model.config.hidden).toBe(64)
    expert.model.dispose()
  })

  it('refuses, before building anything, a config larger than its tensors or than any supported shape', () => {
    const before = tf.memory().numTensors
    const started = performance.now()
    // A 4096-wide, 64-block DiT would be billions of floats; this file holds a tiny one.
    const shapeMismatch = expect.objectContaining({ name: 'ShapeMismatchError' })
    expect(() => loadExpert(expertCheckpoint({ hidden: 4096, depth: 64, heads: 64 }))).toThrow(shapeMismatch)
    expect(() => loadExpert(expertCheckpoint({ hidden: 1 << 20 }))).toThrow(shapeMismatch)
    expect(() => loadExpert(expertCheckpoint({ depth: -1 }))).toThrow(shapeMismatch)
    const router = new Router(ROUTER_PRESETS['router-tiny'], 1)
    const tensors = paramsToTensors(router.params)
    router.dispose()
    const hugeConfig = { ...ROUTER_PRESETS['router-tiny'], hidden: 2048, depth: 48 }
    const huge: Checkpoint = {
      metadata: { format: CHECKPOINT_FORMAT, network: 'router', config: hugeConfig, step: 1 },
      tensors
    }
    expect(() => loadRouter(huge)).toThrow(shapeMismatch)
    expect(performance.now() - started).toBeLessThan(2000)
    expect(tf.memory().numTensors).toBe(before + 0)
  })
})
