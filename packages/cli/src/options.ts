// Option parsers shared by the commands: each names the option and the value it refused.
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, Option } from 'commander';
import {
  MAX_WASM_THREADS,
  describeBackend,
  initBackend,
  type BackendInfo,
  type InitBackendOptions,
} from '@moderoute/core';
import { MAX_REPLICAS, ReplicaPool } from '@moderoute/train';

/** An integer option from `min` to `max` (default Number.MAX_SAFE_INTEGER, 2^53 - 1). */
export function intOption(
  name: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): (value: string) => number {
  return (value) => {
    const n = value.trim() === '' ? Number.NaN : Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(
        `${name} (${JSON.stringify(value)}) must be an integer >= ${min}`,
      );
    if (n > max) {
      const limit =
        max === Number.MAX_SAFE_INTEGER
          ? `${max} (2^53 - 1, the largest integer a double holds exactly)`
          : String(max);
      throw new InvalidArgumentError(
        `${name} (${JSON.stringify(value)}) is too large: at most ${limit}`,
      );
    }
    return n;
  };
}

/** A finite number option above `min` (exclusive, default 0), at most `max` when given. */
export function floatOption(
  name: string,
  range: { min?: number; minInclusive?: boolean; max?: number } = {},
): (value: string) => number {
  const { min = 0, minInclusive = false, max } = range;
  const bounds = `${minInclusive ? '>=' : '>'} ${min}${max !== undefined ? ` and <= ${max}` : ''}`;
  return (value) => {
    const n = value.trim() === '' ? Number.NaN : Number(value);
    const ok =
      Number.isFinite(n) && (minInclusive ? n >= min : n > min) && (max === undefined || n <= max);
    if (!ok)
      throw new InvalidArgumentError(
        `${name} (${JSON.stringify(value)}) must be a finite number ${bounds}`,
      );
    return n;
  };
}

export function choiceOption<T extends string>(
  name: string,
  choices: readonly T[],
): (value: string) => T {
  return (value) => {
    if (!(choices as readonly string[]).includes(value))
      throw new InvalidArgumentError(
        `${name} (${JSON.stringify(value)}) must be one of ${choices.join(', ')}`,
      );
    return value as T;
  };
}

/** `--threads <n>`, shared by every command: the wasm backend's kernel threads. */
export function threadsOption(): Option {
  return new Option(
    '--threads <n>',
    `threads for the wasm backend's kernels, 1 to ${MAX_WASM_THREADS} (default: MODEROUTE_THREADS, else all cores)`,
  ).argParser((value) => {
    const n = intOption('--threads', 1)(value);
    if (n > MAX_WASM_THREADS)
      throw new InvalidArgumentError(
        `--threads (${JSON.stringify(value)}) must be an integer from 1 to ${MAX_WASM_THREADS}`,
      );
    return n;
  });
}

/** `--replicas <n|auto>` of the training commands: data-parallel replicas (worker threads). */
export function replicasOption(): Option {
  return new Option(
    '--replicas <n>',
    `data-parallel replicas, each on one core with its own single-thread backend: ` +
      `"auto" (every core, at most the batch size, on wasm and cpu; 1 on tensorflow) ` +
      `or 1 to ${MAX_REPLICAS}`,
  )
    .default('auto')
    .argParser((value): ReplicasFlag => {
      if (value === 'auto') return 'auto';
      const n = intOption('--replicas', 1)(value);
      if (n > MAX_REPLICAS)
        throw new InvalidArgumentError(
          `--replicas (${JSON.stringify(value)}) must be "auto" or an integer from 1 to ${MAX_REPLICAS}`,
        );
      return n;
    });
}

export type ReplicasFlag = number | 'auto';

/** Cores auto replicas may use: the machine's available parallelism, at most 8. */
function autoReplicaCores(): number {
  return Math.min(availableParallelism(), 8);
}

/** What a training command runs on: the backend, and the replicas with their pool. */
export interface TrainingSetup {
  readonly info: BackendInfo;
  /** Data-parallel replicas, the training thread included (1: no pool). */
  readonly replicas: number;
  /** The worker replicas when `replicas` > 1; the caller closes it. */
  readonly pool?: ReplicaPool;
  /** Why "auto" runs fewer replicas than cores, when it does for a failure. */
  readonly note?: string;
}

/**
 * Starts the backend and the replica pool of a training command with `--replicas` (default
 * "auto"). With more than one replica the training thread's wasm prefers one kernel thread (each
 * replica has a core) unless --threads or MODEROUTE_THREADS says otherwise. "auto" means every
 * core (at most the batch size) on wasm and cpu, and 1 on tensorflow, whose native kernels use
 * every core already; if its workers cannot start, it runs one replica and says why. An explicit
 * count that cannot start fails with the reason.
 */
export async function startTraining(
  flags: BackendFlags & { replicas?: ReplicasFlag },
  batchSize: number,
): Promise<TrainingSetup> {
  const asked = flags.replicas ?? 'auto';
  const wanted = asked === 'auto' ? Math.min(autoReplicaCores(), batchSize) : asked;
  const request = backendRequest(flags);
  const info = await initBackend(wanted > 1 ? { ...request, preferredThreads: 1 } : request);
  const replicas = asked === 'auto' && info.name === 'tensorflow' ? 1 : wanted;
  if (replicas === 1) return { info, replicas };
  try {
    return { info, replicas, pool: await ReplicaPool.start({ replicas }) };
  } catch (error) {
    if (asked !== 'auto') throw error;
    const reason = error instanceof Error ? error.message : String(error);
    return {
      info,
      replicas: 1,
      note:
        `data-parallel replicas unavailable (${reason}); training on one replica. ` +
        `--replicas 1 runs wasm on every core instead`,
    };
  }
}

/** The first line a training command prints about what runs. */
export function describeTraining(setup: TrainingSetup): string {
  const replicas = setup.replicas > 1 ? `; ${setup.replicas} data-parallel replicas` : '';
  return `${describeBackend(setup.info)}${replicas}${setup.note ? `; ${setup.note}` : ''}`;
}

/** The flags every command has for its backend. */
export interface BackendFlags {
  backend?: string;
  threads?: number;
}

/** initBackend's options from the backend flags (unset flags leave the environment's say). */
export function backendRequest(flags: BackendFlags): InitBackendOptions {
  return {
    ...(flags.backend ? { backend: flags.backend } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
  };
}
