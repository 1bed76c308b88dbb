// Option parsers shared by the commands: each names the option and the value it refused.
import { InvalidArgumentError, Option } from 'commander';
import { MAX_WASM_THREADS, type InitBackendOptions } from '@moderoute/core';

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

/** The flags every command has for its backend. */
export interface BackendFlags {
  backend?: string;
  threads?: number;
}

/** initBackend's options from the backend flags (unset flags leave the environment's say). */
export function backendRequest(flags: BackendFlags): InitBackendOptions {
  return { ...(flags.backend ? { backend: flags.backend } : {}), ...(flags.threads !== undefined ? { threads: flags.threads } : {}) };
}
