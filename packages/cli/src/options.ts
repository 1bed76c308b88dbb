// Option parsers shared by the commands: each names the option and the value it refused.
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, Option } from 'commander';
import { MAX_WASM_THREADS, initBackend, type BackendInfo, type InitBackendOptions } from '@moderoute/core';
import { MAX_REPLICAS } from '@moderoute/train';

export function intOption(name: string, min = 0): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} (${JSON.stringify(value)}) must be an integer >= ${min}`);
    return n;
  };
}

export function floatOption(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} (${JSON.stringify(value)}) must be a number > 0`);
    return n;
  };
}

export function choiceOption<T extends string>(name: string, choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`${name} (${JSON.stringify(value)}) must be one of ${choices.join(', ')}`);
    return value as T;
  };
}

/** `--threads <n>`, shared by every command: the wasm backend's kernel threads. */
export function threadsOption(): Option {
  return new Option('--threads <n>', `threads for the wasm backend's kernels, 1 to ${MAX_WASM_THREADS} (default: MODEROUTE_THREADS, else all cores)`).argParser((value) => {
    const n = intOption('--threads', 1)(value);
    if (n > MAX_WASM_THREADS) throw new InvalidArgumentError(`--threads (${JSON.stringify(value)}) must be an integer from 1 to ${MAX_WASM_THREADS}`);
    return n;
  });
}

/** `--replicas <n|auto>` of the training commands: data-parallel replicas (worker threads). */
export function replicasOption(): Option {
  return new Option(
    '--replicas <n>',
    `data-parallel replicas, each on one core with its own single-thread backend: 1 to ${MAX_REPLICAS}, or "auto" (every core, at most the batch size, on wasm and cpu; 1 on tensorflow)`,
  )
    .default(1)
    .argParser((value): ReplicasFlag => {
      if (value === 'auto') return 'auto';
      const n = intOption('--replicas', 1)(value);
      if (n > MAX_REPLICAS) throw new InvalidArgumentError(`--replicas (${JSON.stringify(value)}) must be "auto" or an integer from 1 to ${MAX_REPLICAS}`);
      return n;
    });
}

export type ReplicasFlag = number | 'auto';

/** Cores auto replicas may use: the machine's available parallelism, at most 8. */
export function autoReplicaCores(): number {
  return Math.min(availableParallelism(), 8);
}

/**
 * Starts the backend for a training command with `--replicas`: with more than one replica the
 * training thread's wasm prefers one kernel thread (each replica has a core) unless --threads or
 * MODEROUTE_THREADS says otherwise. Returns the backend and the replicas to use (default 1):
 * "auto" means every core (at most the batch size) on wasm and cpu, and 1 on tensorflow, whose
 * native kernels use every core already.
 */
export async function initTrainingBackend(flags: BackendFlags & { replicas?: ReplicasFlag }, batchSize: number): Promise<{ info: BackendInfo; replicas: number }> {
  const asked = flags.replicas ?? 1;
  const wanted = asked === 'auto' ? Math.min(autoReplicaCores(), batchSize) : asked;
  const request = backendRequest(flags);
  const info = await initBackend(wanted > 1 ? { ...request, preferredThreads: 1 } : request);
  const replicas = asked === 'auto' && info.name === 'tensorflow' ? 1 : wanted;
  return { info, replicas };
}

/** The flags every command has for its backend. */
export interface BackendFlags {
  backend?: string;
  threads?: number;
}

/** initBackend's options from the backend flags (unset flags leave the environment's say). */
export function backendRequest(flags: BackendFlags): InitBackendOptions {
  return { ...(flags.backend ? { backend: flags.backend } : {}), ...(flags.threads !== undefined ? { threads: flags.threads } : {}) };
}
