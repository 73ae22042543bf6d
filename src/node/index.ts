/** The contributor: `createHddmNode` and what it is built from, for programs that embed a node. */
export {
  createHddmNode, HddmNode, type HddmNodeEvents, type HddmNodeInit, type HddmNodeStatus, type RunSource
} from './hddm-node.js'
export { createWorkerTaskTrainer, WorkerTaskTrainer, type WorkerTaskTrainerInit } from './worker-trainer.js'
export type {
  TaskTrainer, TaskTrainRequest, TaskTrainOptions, TaskTrainResult, TaskStepDetail, TaskCheckpointDetail,
  CheckpointExport, LocalCheckpoint
} from './task-trainer.js'
export type { TaskLoopEvents, TaskLoopInit, TaskPhase } from './task-loop.js'
export type { CheckpointSyncInit } from './checkpoint-sync.js'
export {
  createRun, resolveRun, readManifestFile, parseRunId, type CreatedRun, type RunCreationProgressEvents
} from './run-creation.js'
export { mergeCoverage, formatCoverage } from './coverage.js'
export { connectSwarm, type ConnectSwarmInit, type SwarmConnection, type BareSwarmConnection } from './connect.js'
export {
  verifyFinals, nameEnsemble, publishEnsemble, assembleEnsemble, sampleGrid,
  type AssembleInit, type NamedEnsemble, type PublishedEnsemble, type PublishEnsembleOptions, type AssembledEnsemble
} from './assemble.js'
export {
  drawEnsembleHere, drawEnsembleOnPeer, type DrawRequest, type DrawSwarmInit, type DrawnImages
} from './draw-ensemble.js'
export {
  evalSourceFromFiles, evalSourceFromSwarm, readHeldOutDir, type EvalSource, type FileSourceInit, type SwarmSourceInit
} from './eval-source.js'
export { createBootstrapPeer, BootstrapPeer, type BootstrapPeerInit } from './bootstrap-peer.js'
export {
  createNodeMetrics, NodeMetrics, type NodeMetricsInit, type NodeMetricsComponents, type MetricsSource
} from './node-metrics.js'
export {
  createMetricsServer, MetricsServer, parseMetricsAddress, DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT,
  type MetricsServerInit, type MetricsServerComponents
} from './metrics-server.js'
