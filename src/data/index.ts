/**
 * Data layer (DESIGN section 5): datasets, tokenizer, deterministic clustering, shards, batches.
 *
 * The pipeline a run goes through, all seeded and byte-reproducible on any machine:
 * dataset -> `clusterDataset` (PCA -> fine k-means -> coarse k-means to K) -> `buildShards`
 * (one train + one held-out shard per cluster) -> `encodeShard` bytes (stored in IPFS) ->
 * `decodeShard` on the trainer's side -> `ShardBatcher` (resumable shuffled batches).
 *
 * @example
 * ```ts
 * const dataset = await loadDataset('mnist')
 * const clustering = await clusterDataset(dataset, { k: 4, seed: 1 })
 * const shards = buildShards(dataset, clustering, { heldOutFraction: 0.05, seed: 1 })
 * const bytes = encodeShard(shards[2].train)            // store; shardDigest(bytes) names it
 * const batcher = new ShardBatcher(decodeShard(bytes), { batchSize: 64, seed: 7, promptDropout: 0.1 })
 * const { images, tokens } = batcher.next()             // [B,H,W,C] in [-1,1], [B,L] token ids
 * const resume = batcher.getState()                     // JSON-safe; setState() continues the stream
 * ```
 *
 * Formats and the reasons behind them: docs/DATA.md.
 */
export * from './errors.js'
export { Random } from './random.js'
export type { RandomJSON, RandomState } from './random.js'
export {
  MNIST_CLASS_NAMES, FASHION_MNIST_CLASS_NAMES, imageSize, validateDataset, subsetDataset, takeDataset, datasetDigest
} from './dataset.js'
export type { Dataset } from './dataset.js'
export { parseIdx, datasetFromIdx, readIdxPair } from './idx.js'
export type { IdxArray, IdxPairOptions } from './idx.js'
export { loadMnist, loadFashionMnist, mnistDataDir, FASHION_MNIST_DEFAULT_DIR } from './mnist.js'
export type { Split, StandardDatasetOptions, FashionMnistOptions } from './mnist.js'
export { Tokenizer, splitWords, PAD_ID, NULL_ID, UNK_ID, SPECIAL_TOKENS, DEFAULT_MAX_LENGTH } from './tokenizer.js'
export type { TokenizerJSON } from './tokenizer.js'
export { fitPca, pcaTransform, PCA_DEFAULTS } from './features.js'
export type { Pca, PcaInit } from './features.js'
export { kmeans } from './kmeans.js'
export type { KMeansOptions, KMeansResult } from './kmeans.js'
export { clusterDataset, assignClusters, clusteringDigest, CLUSTER_DEFAULTS } from './cluster.js'
export type { Clustering, ClusterModel, ClusterOptions, ClusterProgressEvents } from './cluster.js'
export {
  encodeShard, decodeShard, shardDigest, shardToDataset, buildShards, SHARD_MAGIC, SHARD_VERSION
} from './shard.js'
export type { Shard, ShardHeader, ShardSplit, ShardClustering, BuildShardsOptions, ClusterShards } from './shard.js'
export { ShardBatcher, dropPrompts } from './batcher.js'
export type { Batch, ShardBatcherInit, ShardBatcherState } from './batcher.js'
export { encodePng, decodePng, imageGrid } from './png.js'
export type { RawImage, ImageBatch, ImageGridOptions } from './png.js'
export { readImageFolder, readCaptions, parseCaptions, CAPTION_FILES } from './image-folder.js'
export type { ImageFolderOptions, CaptionEntry } from './image-folder.js'
export { resizeImage, toChannels } from './image-ops.js'
export { loadDataset } from './sources.js'
export type { LoadDatasetOptions } from './sources.js'
