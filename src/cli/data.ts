import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { InvalidArgumentError } from '../errors.js'
import {
  buildShards, clusterDataset, datasetDigest, encodeShard, imageGrid, imageSize, loadDataset, Random, shardDigest
} from '../data/index.js'
import type { Command } from 'commander'
import type { Clustering, Dataset } from '../data/index.js'
import type { RegisterCommand } from './register-command.js'
import { choiceOption } from './options.js'
import { clusteringFeaturesFor } from '../training/clustering-encoder.js'

interface ClusterCommandOptions {
  dataset: string
  features?: 'encoder' | 'pca'
  encoder?: string
  k: number
  seed: number
  fine: number
  heldOut: number
  out: string
  size?: number
  channels?: 1 | 3
  json: boolean
  writeShards: boolean
}

/** `hddm-node data cluster`: the run's clusters, their shards' digests and a PNG grid per cluster. */
export const registerData: RegisterCommand = (program: Command) => {
  const data = program.command('data').description('Datasets, clusters and shards')
  data.command('cluster')
    .description('Cluster a dataset (features -> fine k-means -> coarse k-means to K), report sizes, pi_k, ' +
      'label histograms, class concentration and shard digests, and write a PNG grid per cluster')
    .option('--dataset <spec>', 'mnist[:test] | fashion-mnist[:test] | idx:<images>,<labels> | folder:<dir>', 'mnist')
    .option('--features <kind>',
      'encoder (the shipped clustering encoder; the default where one ships) | pca (pixel PCA)',
      choiceOption('--features', ['encoder', 'pca'] as const))
    .option('--encoder <file>', 'with --features encoder: this encoder file instead of the shipped one')
    .requiredOption('--k <n>', 'number of clusters K', integer('--k'))
    .option('--seed <n>', 'seed of the clustering and the held-out split', integer('--seed'), 0)
    .option('--fine <n>', 'fine centroids before the coarse stage', integer('--fine'), 128)
    .option('--held-out <fraction>', 'fraction of each cluster held out', fraction('--held-out'), 0.05)
    .option('--out <dir>', 'where the grids (and shards) go', 'hddm-clusters')
    .option('--size <pixels>', 'folder datasets: images are resized to size x size', integer('--size'))
    .option('--channels <n>', 'folder datasets: 1 (gray) or 3 (RGB)', channelCount)
    .option('--write-shards', 'also write the shard files into <out>/shards', false)
    .option('--json', 'print one JSON object instead of a table', false)
    .action(async (options: ClusterCommandOptions) => { await clusterCommand(options) })
}

async function clusterCommand (o: ClusterCommandOptions): Promise<void> {
  const dataset = await loadDataset(o.dataset, { width: o.size, height: o.size, channels: o.channels })
  const features = await clusteringFeaturesFor(o.dataset, o.features, o.encoder)
  const clustering = await clusterDataset(dataset, { k: o.k, seed: o.seed, fine: o.fine, features: features.map })
  const shards = buildShards(dataset, clustering, { heldOutFraction: o.heldOut, seed: o.seed })
  const out = resolve(o.out)
  await mkdir(o.writeShards ? join(out, 'shards') : out, { recursive: true })
  const clusters = []
  for (const { cluster, train, heldOut } of shards) {
    const trainBytes = encodeShard(train)
    const heldOutBytes = encodeShard(heldOut)
    const grid = join(out, `cluster-${cluster}.png`)
    await writeFile(grid, clusterGrid(dataset, clustering, cluster, o.seed))
    if (o.writeShards) {
      await writeFile(join(out, 'shards', `cluster-${cluster}.train.hddmshard`), trainBytes)
      await writeFile(join(out, 'shards', `cluster-${cluster}.held-out.hddmshard`), heldOutBytes)
    }
    clusters.push({
      cluster,
      size: clustering.sizes[cluster],
      pi: clustering.pi[cluster],
      topLabels: topLabels(dataset, clustering, cluster),
      labels: labelHistogram(dataset, clustering, cluster),
      train: { count: train.header.count, sha256: shardDigest(trainBytes) },
      heldOut: { count: heldOut.header.count, sha256: shardDigest(heldOutBytes) },
      grid
    })
  }
  const report = {
    dataset: {
      spec: o.dataset, name: dataset.name, count: dataset.count, width: dataset.width, height: dataset.height,
      channels: dataset.channels, sha256: datasetDigest(dataset)
    },
    features: features.encoder !== undefined
      ? { kind: 'encoder', file: features.encoder.name, cid: features.encoder.cid }
      : { kind: 'pca' },
    k: clustering.k,
    fine: clustering.fine,
    seed: clustering.seed,
    clusteringDigest: clustering.digest,
    concentration: clustering.concentration ?? null,
    purity: clustering.purity ?? null,
    majorityFraction: clustering.majorityFraction ?? null,
    tokenizerDigest: shards[0].train.header.tokenizerDigest,
    clusters
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(report) + '\n')
    return
  }
  const shape = `${dataset.width}x${dataset.height}x${dataset.channels}`
  const params = `K=${clustering.k} fine=${clustering.fine} seed=${clustering.seed}`
  const header = [
    'cluster'.padEnd(8), 'size'.padEnd(8), 'pi'.padEnd(7), 'top labels'.padEnd(40),
    'train shard'.padEnd(23), 'held-out shard'
  ]
  const lines = [
    `dataset ${dataset.name}: ${dataset.count} images ${shape}, sha256 ${report.dataset.sha256.slice(0, 16)}`,
    `features ${features.description}`,
    `clustering ${params}, digest ${clustering.digest.slice(0, 16)}`,
    '',
    header.join(' ')
  ]
  for (const c of clusters) {
    const labels = c.topLabels.map(t => `${t.label} ${(100 * t.fraction).toFixed(0)}%`).join(', ')
    const row = [String(c.cluster).padEnd(8), String(c.size).padEnd(8), c.pi.toFixed(4).padEnd(7), labels.padEnd(40)]
    lines.push([...row, shardCell(c.train), shardCell(c.heldOut)].join(' '))
  }
  if (clustering.labelCounts !== undefined) {
    const counts = clustering.labelCounts
    const names = dataset.classNames ?? counts[0].map((_, l) => String(l))
    const width = Math.max(6, ...names.map(n => n.length + 1))
    const columns = clusters.map(c => `c${c.cluster}`.padStart(7)).join('')
    lines.push('', 'images of each class by cluster:', `${'class'.padEnd(width)} ${columns}`)
    names.forEach((name, l) => {
      lines.push(`${name.padEnd(width)} ${counts.map(row => String(row[l]).padStart(7)).join('')}`)
    })
  }
  lines.push('')
  if (clustering.concentration !== undefined) {
    const meaning = 'the share of each class in its most common cluster, averaged over classes'
    lines.push(`class concentration ${clustering.concentration.toFixed(4)} (${meaning})`)
  }
  if (clustering.purity !== undefined) {
    const labelBlind = clustering.majorityFraction!.toFixed(4)
    lines.push(`purity ${clustering.purity.toFixed(4)} (a label-blind assignment scores about ${labelBlind})`)
  }
  lines.push(`grids in ${out}${o.writeShards ? `, shards in ${join(out, 'shards')}` : ''}`)
  process.stdout.write(lines.join('\n') + '\n')
}

/** A shard in the table: its image count and the start of its digest. */
function shardCell (shard: { count: number, sha256: string }): string {
  return `${String(shard.count).padStart(6)} ${shard.sha256.slice(0, 16)}`
}

/** Up to 64 members of the cluster, drawn with a seeded sample. */
function clusterGrid (dataset: Dataset, clustering: Clustering, cluster: number, seed: number): Uint8Array {
  const members: number[] = []
  clustering.assignments.forEach((c, i) => { if (c === cluster) members.push(i) })
  Random.derive(seed, `grid/${cluster}`).shuffle(members)
  const picked = members.slice(0, 64)
  const size = imageSize(dataset)
  const pixels = new Uint8Array(picked.length * size)
  picked.forEach((item, i) => pixels.set(dataset.pixels.subarray(item * size, (item + 1) * size), i * size))
  const image = { width: dataset.width, height: dataset.height, channels: dataset.channels, pixels }
  return imageGrid(image, { cols: 8, scale: dataset.width <= 32 ? 2 : 1 })
}

function topLabels (
  dataset: Dataset, clustering: Clustering, cluster: number
): Array<{ label: string, fraction: number }> {
  const row = clustering.labelCounts?.[cluster]
  if (row === undefined) return []
  return row.map((n, l) => ({ label: dataset.classNames?.[l] ?? String(l), fraction: n / clustering.sizes[cluster] }))
    .sort((a, b) => b.fraction - a.fraction).slice(0, 3)
}

function labelHistogram (
  dataset: Dataset, clustering: Clustering, cluster: number
): Record<string, number> | undefined {
  const row = clustering.labelCounts?.[cluster]
  if (row === undefined) return undefined
  return Object.fromEntries(row.map((n, l) => [dataset.classNames?.[l] ?? String(l), n]))
}

function integer (flag: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${flag} must be an integer, got ${value}`)
    return Number(value)
  }
}

function fraction (flag: string) {
  return (value: string): number => {
    const v = Number(value)
    if (value.trim() === '' || !(v >= 0 && v < 1)) {
      throw new InvalidArgumentError(`${flag} must be a number in [0, 1), got ${value}`)
    }
    return v
  }
}

function channelCount (value: string): 1 | 3 {
  if (value !== '1' && value !== '3') throw new InvalidArgumentError(`--channels must be 1 or 3, got ${value}`)
  return value === '1' ? 1 : 3
}
