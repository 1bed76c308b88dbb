// The wasm backend's threaded build, made to load in Node.
//
// tfjs-backend-wasm ships a threaded SIMD build (XNNPACK on a pthreadpool) but never uses it in
// Node: its WASM_HAS_MULTITHREAD_SUPPORT flag answers false there, and its loader could not start
// the build anyway, because it hands Emscripten the pthread worker and the main script as Blob
// URLs, which Node's worker_threads refuse (ERR_WORKER_PATH). This module loads the same build
// with what Node accepts, and registers it as the `wasm` backend; tfjs's kernels for `wasm` run on
// it unchanged (they only see the Emscripten module through BackendWasm).
//
// Three things differ from tfjs's own loader:
// - the pthread worker is a file: tfjs's worker source (exported as `wasmWorkerContents`) written
//   once to the temporary directory, under a name that changes with its content;
// - the main script given to the workers is the build's own file in node_modules (the worker
//   reads it with fs when given a string);
// - the build caps its pool at half of `emscripten_num_logical_cores()` (it assumes two hardware
//   threads per core), which is 1 on a 2-core machine; the core count the build imports is
//   answered as twice the threads asked for, so the cap is the number asked for.
// The pool's threads are unref'd once started, so they never keep a finished process alive, and
// the idle workers the build pre-starts beyond the pool are stopped.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { MAX_WASM_THREADS } from './threads.js';
import { tf } from './tf.js';

export { MAX_WASM_THREADS };

const BUILD = 'tfjs-backend-wasm-threaded-simd';
/** How long the build may take to start its workers before the caller falls back. */
const START_TIMEOUT_MS = 30_000;
/** tfjs registers `wasm` at this priority (below native TensorFlow, above cpu). */
const WASM_PRIORITY = 2;

const require = createRequire(import.meta.url);

/** The parts of the Emscripten module this loader touches. */
interface EmscriptenModule {
  cwrap(name: string, returns: string | null, args: string[]): (...args: number[]) => number;
  PThread?: { runningWorkers: { unref(): void }[]; unusedWorkers: { terminate(): void }[] };
  tfjs?: Record<string, unknown>;
}

interface WasmImports {
  env: Record<string, unknown>;
}

/** The slice of the WebAssembly JS API used here (the project's libs carry no DOM types). */
interface WasmApi {
  instantiate(
    binary: Uint8Array,
    imports: WasmImports,
  ): Promise<{ instance: unknown; module: unknown }>;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

function buildDirectory(): string {
  return join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
}

/**
 * Writes tfjs's pthread worker source to a file Node can start, once per content, atomically
 * (a temporary name, then a rename), and returns its path.
 */
function workerFile(directory: string): string {
  const { wasmWorkerContents } = require(join(directory, `${BUILD}.worker.js`)) as {
    wasmWorkerContents: string;
  };
  // The source holds "\n" escapes that became real newlines inside string literals when it was
  // embedded in a template string; tfjs escapes them again before making its Blob.
  const source = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const folder = join(tmpdir(), 'moderoute');
  const path = join(folder, `${BUILD}.worker.${hash}.cjs`);
  if (!existsSync(path)) {
    mkdirSync(folder, { recursive: true });
    const partial = `${path}.${process.pid}.partial`;
    writeFileSync(partial, source);
    renameSync(partial, path);
  }
  return path;
}

/** Starts the threaded build with `threads` pool threads and returns its Emscripten module. */
async function loadThreadedModule(threads: number): Promise<EmscriptenModule> {
  const directory = buildDirectory();
  const mainScript = join(directory, `${BUILD}.js`);
  const worker = workerFile(directory);
  const factory = require(mainScript) as Factory;
  const binary = readFileSync(join(directory, `${BUILD}.wasm`));
  // Emscripten's promise never settles when instantiation fails asynchronously or a worker never
  // reports in; `failed` rejects instead (or after START_TIMEOUT_MS), so the caller can fall back.
  let fail: (reason: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const timer = setTimeout(
    () => fail(`no answer from its workers within ${START_TIMEOUT_MS / 1000} s`),
    START_TIMEOUT_MS,
  );
  const started = factory({
    locateFile: (path: string) => (path.endsWith('.worker.js') ? worker : join(directory, path)),
    mainScriptUrlOrBlob: mainScript,
    instantiateWasm: (
      imports: WasmImports,
      receive: (instance: unknown, module: unknown) => void,
    ) => {
      if (typeof imports.env['emscripten_num_logical_cores'] !== 'function') {
        throw new Error(
          `${BUILD}.wasm no longer imports emscripten_num_logical_cores; this loader needs updating`,
        );
      }
      // The build divides this by two (backend.cc: "2 threads per core").
      imports.env['emscripten_num_logical_cores'] = () => 2 * threads;
      wasmApi
        .instantiate(binary, imports)
        .then((result) => receive(result.instance, result.module), fail);
      return {};
    },
    onAbort: (what: unknown) => fail(what),
  });
  let module: EmscriptenModule;
  try {
    module = await Promise.race([started, failed]);
  } catch (error) {
    throw new Error(
      `the threaded wasm build failed to start: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    clearTimeout(timer);
  }
  // The same bridge tfjs's own loader adds (BackendWasm calls these).
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  return module;
}

/**
 * Starts the threaded build with `threads` pool threads (2 to MAX_WASM_THREADS) and returns it
 * as a tfjs backend, ready to register as `wasm`. Rejects with the reason when the build cannot
 * start here (no SharedArrayBuffer, an unwritable temporary directory, ...).
 */
export async function createThreadedWasmBackend(threads: number): Promise<BackendWasm> {
  if (!Number.isInteger(threads) || threads < 2 || threads > MAX_WASM_THREADS) {
    throw new RangeError(
      `threads (${threads}) must be an integer from 2 to ${MAX_WASM_THREADS} for the threaded wasm build`,
    );
  }
  const module = await loadThreadedModule(threads);
  setThreadsCount(threads);
  // BackendWasm's constructor creates the pool; its threads start here, each one ref'd.
  const backend = new BackendWasm(module as never);
  const pthreads = module.PThread;
  if (pthreads !== undefined) {
    for (const worker of pthreads.runningWorkers) worker.unref();
    // The build pre-starts 8 workers whatever the pool size; each idle one holds a V8 isolate
    // (about 15 MB). Emscripten starts a new worker if a thread is ever created later.
    for (const worker of pthreads.unusedWorkers) worker.terminate();
    pthreads.unusedWorkers.length = 0;
  }
  return backend;
}

/** Makes `backend` the `wasm` backend in tfjs's registry, in place of tfjs's own loader. */
export function registerWasmBackend(backend: BackendWasm): void {
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', () => backend, WASM_PRIORITY);
}
