// Splitting a sweep's runs over machines: which shard this process is (`--shard I/N`, or the
// environment of a Kubernetes Indexed Job or a Slurm job array), and the deterministic partition
// of the runs among N shards (every run in exactly one shard, the planned FLOPs balanced).
import { ConfigError } from '@moderoute/core';

/** Shard `index` of `count` (0-based). */
export interface ShardSpec {
  readonly index: number;
  readonly count: number;
}

/** The whole sweep in one process. */
export const WHOLE: ShardSpec = Object.freeze({ index: 0, count: 1 });

const DECIMAL = /^(0|[1-9][0-9]{0,8})$/;

function decimal(parameter: string, text: string, value: string): number {
  if (!DECIMAL.test(text.trim()))
    throw new ConfigError(
      parameter,
      value,
      'I/N with I and N whole numbers, 0 <= I < N (e.g. 0/4)',
    );
  return Number(text.trim());
}

/** Parses "I/N" (0 <= I < N); the error names `parameter` and the text. */
export function parseShardSpec(text: string, parameter = '--shard'): ShardSpec {
  const parts = text.split('/');
  if (parts.length !== 2)
    throw new ConfigError(parameter, text, 'I/N with I and N whole numbers, 0 <= I < N (e.g. 0/4)');
  const index = decimal(parameter, parts[0]!, text);
  const count = decimal(parameter, parts[1]!, text);
  if (count < 1) throw new ConfigError(parameter, text, 'I/N with N (shards) at least 1');
  if (index >= count)
    throw new ConfigError(
      parameter,
      text,
      `I/N with I (shard index) from 0 to N - 1 = ${count - 1}`,
    );
  return Object.freeze({ index, count });
}

/** Environment variables a shard is read from (process.env by default). */
export type ShardEnvironment = Readonly<Record<string, string | undefined>>;

/** The variable that gives a Kubernetes Indexed Job's shard count (completions). */
export const SHARD_COUNT_VARIABLE = 'MODEROUTE_SHARD_COUNT';

/**
 * The shard from a scheduler's environment: a Slurm job array (SLURM_ARRAY_TASK_ID, counted from
 * SLURM_ARRAY_TASK_MIN, of SLURM_ARRAY_TASK_COUNT), or a Kubernetes Indexed Job
 * (JOB_COMPLETION_INDEX of `count`, or of MODEROUTE_SHARD_COUNT: the Job's completions).
 * Undefined when neither is set; a ConfigError naming the variable when one is malformed.
 */
export function shardFromEnvironment(env: ShardEnvironment, count?: number): ShardSpec | undefined {
  const slurm = env['SLURM_ARRAY_TASK_ID'];
  if (slurm !== undefined) {
    const total = env['SLURM_ARRAY_TASK_COUNT'];
    if (total === undefined)
      throw new ConfigError('SLURM_ARRAY_TASK_COUNT', total, 'set with SLURM_ARRAY_TASK_ID');
    const min = env['SLURM_ARRAY_TASK_MIN'] ?? '0';
    const id = decimal('SLURM_ARRAY_TASK_ID', slurm, slurm);
    const first = decimal('SLURM_ARRAY_TASK_MIN', min, min);
    if (id < first)
      throw new ConfigError('SLURM_ARRAY_TASK_ID', slurm, `>= SLURM_ARRAY_TASK_MIN (${min})`);
    return parseShardSpec(
      `${id - first}/${total.trim()}`,
      `SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN / SLURM_ARRAY_TASK_COUNT`,
    );
  }
  const k8s = env['JOB_COMPLETION_INDEX'];
  if (k8s !== undefined) {
    const fromEnv = env[SHARD_COUNT_VARIABLE];
    const n =
      count ??
      (fromEnv !== undefined ? decimal(SHARD_COUNT_VARIABLE, fromEnv, fromEnv) : undefined);
    if (n === undefined)
      throw new ConfigError(
        SHARD_COUNT_VARIABLE,
        fromEnv,
        "set to the Job's completions (or pass --shard-count) with JOB_COMPLETION_INDEX",
      );
    return parseShardSpec(
      `${decimal('JOB_COMPLETION_INDEX', k8s, k8s)}/${n}`,
      `JOB_COMPLETION_INDEX/${SHARD_COUNT_VARIABLE}`,
    );
  }
  return undefined;
}

/** What the partition needs of a run: its position and its planned cost. */
export interface ShardableRun {
  readonly order: number;
  readonly plannedFlops: number;
}

/**
 * The runs of shard `shard`: longest-processing-time-first over the planned FLOPs (largest run to
 * the least loaded shard, ties to the lower shard index, equal runs in canonical order), then in
 * canonical order. Depends only on the runs and the count, so every shard computes the same
 * partition, and every run lands in exactly one shard.
 */
export function shardRuns<R extends ShardableRun>(runs: readonly R[], shard: ShardSpec): R[] {
  const load = new Array<number>(shard.count).fill(0);
  const owner = new Map<number, number>();
  const bySize = [...runs].sort((a, b) => b.plannedFlops - a.plannedFlops || a.order - b.order);
  for (const run of bySize) {
    let best = 0;
    for (let s = 1; s < shard.count; s++) if (load[s]! < load[best]!) best = s;
    load[best]! += run.plannedFlops;
    owner.set(run.order, best);
  }
  return runs.filter((r) => owner.get(r.order) === shard.index);
}
