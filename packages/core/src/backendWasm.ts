// The wasm backend's start: the thread count asked for (option, MODEROUTE_THREADS, or the
// machine's parallelism), and the one initialisation per process that fixes it (the threaded
// build under Node through the platform, tfjs's own loader in a browser).
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import type { BackendInfo, InitBackendOptions } from './backend.js';
import { BackendError } from './errors.js';
import { platform } from './platform.js';
import { MAX_WASM_THREADS } from './threads.js';
import { tf } from './tf.js';

/** The first line of an error's message. */
export function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0] ?? text;
}

/** Threads asked for: `options.threads`, else MODEROUTE_THREADS, else the machine's parallelism. */
export interface ThreadsRequest {
  readonly threads: number;
  /** Whether the count was asked for (option or environment) rather than defaulted. */
  readonly explicit: boolean;
}

function parseThreads(value: unknown, source: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    throw new BackendError(
      'wasm',
      `${source} (${JSON.stringify(value)}) must be an integer from 1 to ${MAX_WASM_THREADS}`,
    );
  }
  return n;
}

export function threadsRequest(
  options: InitBackendOptions,
  env: Readonly<Record<string, string | undefined>>,
): ThreadsRequest {
  if (options.threads !== undefined)
    return { threads: parseThreads(options.threads, 'threads'), explicit: true };
  const fromEnv = env['MODEROUTE_THREADS'];
  if (fromEnv !== undefined && fromEnv !== '')
    return { threads: parseThreads(fromEnv, 'MODEROUTE_THREADS'), explicit: true };
  if (options.preferredThreads !== undefined)
    return { threads: parseThreads(options.preferredThreads, 'preferredThreads'), explicit: false };
  return { threads: Math.min(platform().parallelism(), MAX_WASM_THREADS), explicit: false };
}

/** Whether tfjs already holds an initialised `wasm` backend (its thread count is then fixed). */
function wasmInitialised(): boolean {
  return tf.engine().registry['wasm'] !== undefined;
}

/** Notes from the first wasm initialisation, repeated in every later BackendInfo. */
let wasmNotes: string[] = [];

export async function tryWasm(request: ThreadsRequest): Promise<BackendInfo> {
  return platform().guard(() => startWasm(request));
}

async function startWasm(request: ThreadsRequest): Promise<BackendInfo> {
  if (!wasmInitialised()) {
    wasmNotes = [];
    const startThreaded = platform().startThreadedWasm;
    // Under Node, tfjs's own single-thread loader unless the threaded build starts (it sets its own
    // count); in a browser, tfjs's loader runs its threaded build where the page allows it.
    setThreadsCount(startThreaded === undefined ? request.threads : 1);
    if (request.threads > 1 && startThreaded !== undefined) {
      try {
        await startThreaded(request.threads);
      } catch (error) {
        wasmNotes = [
          `threaded build unavailable (${errorText(error)}), running 1 thread; MODEROUTE_THREADS=1 skips the attempt`,
        ];
      }
    }
  } else if (request.explicit && getThreadsCount() !== request.threads && wasmNotes.length === 0) {
    throw new BackendError(
      'wasm',
      `threads (${request.threads}) cannot change once wasm is initialised in this ` +
        `process; it runs ${getThreadsCount()}. ` +
        'Choose threads in the first initBackend call, or with MODEROUTE_THREADS',
    );
  }
  if (!(await tf.setBackend('wasm')))
    throw new BackendError('wasm', 'The "wasm" backend failed to initialise');
  return {
    name: 'wasm',
    package: '@tensorflow/tfjs-backend-wasm',
    simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
    threads: getThreadsCount(),
    gpu: false,
    skipped: [],
    notes: [...wasmNotes],
  };
}
