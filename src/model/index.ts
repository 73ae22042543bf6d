export {
  EXPERT_PRESETS, ROUTER_PRESETS, TIME_FREQUENCY_DIM, tokenCount, type DiTConfig, type RouterConfig,
  type RouterConditioning, type AdaLNKind, type ExpertPresetName, type RouterPresetName
} from './config.js'
export { DiT } from './dit.js'
export { Router } from './router.js'
export { Params } from './params.js'
export {
  expertParamCount, routerParamCount, expertForwardFlops, routerForwardFlops, type ExpertParamCount
} from './param-count.js'
