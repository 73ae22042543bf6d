import { describe, it, expect, afterAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { EXPERT_PRESETS, ROUTER_PRESETS, type DiTConfig } from '../../src/model/config.js'
import { DiT } from '../../src/model/dit.js'
import { Router } from '../../src/model/router.js'
import { expertParamCount, routerParamCount } from '../../src/model/param-count.js'

await tf.setBackend('cpu')

describe('parameter counts', () => {
  const built: Array<{ dispose: () => void }> = []
  afterAll(() => { for (const m of built) m.dispose() })

  it('analytic expert count equals the built model for tiny and small, both AdaLN kinds', () => {
    for (const preset of [EXPERT_PRESETS.tiny, EXPERT_PRESETS.small]) {
      for (const adaln of ['single', 'zero'] as const) {
        const config: DiTConfig = { ...preset, adaln }
        const model = new DiT(config, 1)
        built.push(model)
        const count = expertParamCount(config)
        expect(model.params.count()).toBe(count.total)
        expect(model.params.count(n => n.startsWith('text_encoder.'))).toBe(count.textEncoder)
      }
    }
  })

  it('analytic count equals the built model for a class-conditional, learned-sigma expert (an import)', () => {
    const config: DiTConfig = {
      ...EXPERT_PRESETS.tiny, adaln: 'zero', conditioning: 'class', numClasses: 10, learnSigma: true,
      promptTokens: 1, vocabSize: 0, textDim: 0
    }
    const model = new DiT(config, 1)
    built.push(model)
    expect(model.params.count()).toBe(expertParamCount(config).total)
    expect(expertParamCount(config).textEncoder).toBe(0)
  })

  it('counts the public DiT-XL/2 at 674,834,720 (torch\'s 675,129,632 less its fixed position table)', () => {
    const ditXl2: DiTConfig = {
      ...EXPERT_PRESETS.xl2, adaln: 'zero', conditioning: 'class', numClasses: 1000, learnSigma: true,
      promptTokens: 1, vocabSize: 0, textDim: 0
    }
    expect(expertParamCount(ditXl2).total).toBe(675_129_632 - 256 * 1152)
  })

  it('every expert preset is wide enough to carry a whole patch (else eps at high noise is unlearnable)', () => {
    for (const [name, c] of Object.entries(EXPERT_PRESETS)) {
      expect(c.hidden, name).toBeGreaterThanOrEqual(c.patchSize * c.patchSize * c.channels)
    }
  })

  it('has 16D^2+19D parameters per AdaLN-Single block', () => {
    const D = EXPERT_PRESETS.xl2.hidden
    expect(expertParamCount(EXPERT_PRESETS.xl2).perBlock).toBe(16 * D * D + 19 * D)
  })

  it('counts the paper XL/2 expert at 605.7M and the DiT-B/2 router at 129.1M (within 0.1%)', () => {
    expect(Math.abs(expertParamCount(EXPERT_PRESETS.xl2).denoiser / 605.7e6 - 1)).toBeLessThan(1e-3)
    expect(Math.abs(routerParamCount(ROUTER_PRESETS['router-b2']) / 129.1e6 - 1)).toBeLessThan(1e-3)
  })

  it('analytic router count equals the built router', () => {
    const router = new Router(ROUTER_PRESETS['router-small'], 2)
    built.push(router)
    expect(router.params.count()).toBe(routerParamCount(ROUTER_PRESETS['router-small']))
  })

  it('AdaLN-Single saves parameters against AdaLN-Zero at the same shape', () => {
    const single = expertParamCount(EXPERT_PRESETS.xl2).denoiser
    const zero = expertParamCount({ ...EXPERT_PRESETS.xl2, adaln: 'zero' }).denoiser
    const D = EXPERT_PRESETS.xl2.hidden
    // Zero: 28 per-block Linear(D, 6D) and a final Linear(D, 2D). Single: one global Linear(D, 6D),
    // a [6, D] table per block and a [2, D] final table.
    expect(zero - single).toBe(27 * (6 * D * D + 6 * D) + 2 * D * D - 28 * 6 * D)
    expect(zero / single).toBeGreaterThan(1.3)
  })
})
