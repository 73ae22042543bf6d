import type { ExpertTask, RouterTask } from './run-manifest.js'

/**
 * The task list rule used by manifests/*.json: one expert per cluster plus one router, with
 * `ddpm` of the K experts trained as DDPM and the rest as flow matching. DDPM clusters are
 * spread evenly over the cluster indices (cluster `floor(i * K / ddpm)` for i < ddpm); since
 * clustering numbers clusters by decreasing size, this gives DDPM a large, a middle and a small
 * cluster rather than systematically the easiest or the hardest ones. The router reads the
 * prompt unless `conditioning` is 'none' (the HDDM paper's router).
 */
export function planTasks (
  k: number, ddpm: number, conditioning: RouterTask['conditioning'] = 'prompt'
): Array<ExpertTask | RouterTask> {
  const ddpmClusters = new Set(Array.from({ length: ddpm }, (_, i) => Math.floor(i * k / ddpm)))
  const experts: ExpertTask[] = Array.from({ length: k }, (_, cluster) => ({
    id: `expert-${cluster}`,
    kind: 'expert',
    cluster,
    objective: ddpmClusters.has(cluster) ? 'ddpm' : 'fm'
  }))
  return [...experts, { id: 'router', kind: 'router', conditioning }]
}
