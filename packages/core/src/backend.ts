// Backend bootstrap: picks and initialises the TensorFlow.js backend every other package runs on.
// Order of preference under Node: native TensorFlow (`@tensorflow/tfjs-node-gpu`, then
// `@tensorflow/tfjs-node`, optional peers loaded dynamically), then `wasm` (embedded, SIMD),
// then `cpu` (pure JS reference); in a browser: `webgl` (when @tensorflow/tfjs-backend-webgl is
// loaded), then `wasm`, then `cpu`, and `webgpu` when asked for. MODEROUTE_BACKEND overrides the
// order. What differs between Node and browsers comes from platform.ts, so this file imports no
// Node built-in. Starting wasm and its threads: backendWasm.ts.
import '@tensorflow/tfjs-backend-cpu';
import { tf } from './tf.js';
import { BackendError, ConfigError } from './errors.js';
import { platform } from './platform.js';
import { errorText, threadsRequest, tryWasm } from './backendWasm.js';

/** Backend names accepted by `initBackend` and `MODEROUTE_BACKEND` (see BACKENDS_BY_PLATFORM). */
export const BACKEND_NAMES = ['tensorflow', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;
/** One of BACKEND_NAMES. */
export type BackendName = (typeof BACKEND_NAMES)[number];

/** Which backends run where, in the order `initBackend` tries them when none is named. */
export const BACKENDS_BY_PLATFORM = {
  node: ['tensorflow', 'wasm', 'cpu'],
  browser: ['webgl', 'wasm', 'cpu', 'webgpu'],
} as const satisfies Record<'node' | 'browser', readonly BackendName[]>;

/** Backends `initBackend` does not try unless named (tfjs's WebGPU backend is still experimental). */
const ON_REQUEST_ONLY: readonly BackendName[] = ['webgpu'];

/** The native packages, in the order they are tried for the `tensorflow` backend. */
export const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** The package that registers each browser backend (an optional peer of @moderoute/core). */
export const BACKEND_PACKAGES = {
  webgl: '@tensorflow/tfjs-backend-webgl',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
} as const;

/** What is active after `initBackend`. */
export interface BackendInfo {
  /** moderoute's name of the backend. */
  readonly name: BackendName;
  /** The npm package that provides it. */
  readonly package: string;
  /** Whether wasm runs its SIMD build (null where the notion does not apply). */
  readonly simd: boolean | null;
  /** Threads the backend's kernels use. */
  readonly threads: number;
  /** Whether kernels run on a GPU (native CUDA build with a visible device). */
  readonly gpu: boolean;
  /** Why earlier backends in the preference order were passed over (empty when none were). */
  readonly skipped: readonly { readonly name: BackendName; readonly reason: string }[];
  /** Anything that did not go as asked, such as the threaded wasm build falling back to 1 thread. */
  readonly notes: readonly string[];
}

/**
 * Options of `initBackend`: the backend, the environment to read, and the wasm backend's threads.
 */
export interface InitBackendOptions {
  /** Backend to use; overrides MODEROUTE_BACKEND and the default order. */
  readonly backend?: string;
  /**
   * Environment to read MODEROUTE_BACKEND and MODEROUTE_THREADS from (default: `process.env` under
   * Node, else `globalThis.process?.env`, else none).
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Threads for the wasm backend's kernels (XNNPACK's pool), 1 to 8; overrides MODEROUTE_THREADS.
   * Default: the machine's available parallelism, at most 8. More than 1 runs tfjs's threaded
   * SIMD build (see wasmThreads.ts); 1 runs its single-thread SIMD build. Fixed for the process
   * once wasm has been initialised.
   */
  readonly threads?: number;
  /**
   * Threads to use when neither `threads` nor MODEROUTE_THREADS chooses (instead of every core),
   * for example 1 when data-parallel replicas take the other cores. A preference: a wasm backend
   * already running another count keeps it, without an error.
   */
  readonly preferredThreads?: number;
  /** Loads a package by name; tests replace it to simulate present or absent native packages. */
  readonly importPackage?: (name: string) => Promise<unknown>;
}

let active: BackendInfo | undefined;

/** The backend chosen by the last `initBackend`, or undefined before the first call. */
export function activeBackend(): BackendInfo | undefined {
  return active;
}

/** Formats a BackendInfo as one line for logs: `wasm (SIMD, 1 thread)`. */
export function describeBackend(info: BackendInfo): string {
  const parts: string[] = [];
  if (info.simd !== null) parts.push(info.simd ? 'SIMD' : 'no SIMD');
  if (info.gpu) parts.push('GPU');
  parts.push(`${info.threads} thread${info.threads === 1 ? '' : 's'}`);
  const notes = info.notes.length > 0 ? `; ${info.notes.join('; ')}` : '';
  return `${info.name} (${parts.join(', ')}) from ${info.package}${notes}`;
}

const quoted = (names: readonly string[]) => names.map((n) => `"${n}"`).join(', ');
const AVAILABILITY =
  `${quoted(BACKENDS_BY_PLATFORM.node)} under Node, or ` +
  `${quoted(BACKENDS_BY_PLATFORM.browser)} in a browser`;

/** The backend name asked for, checked against the names that run on this platform. */
function parseName(value: string, source: string): BackendName {
  const name = value.trim().toLowerCase();
  const here = platform().name;
  if ((BACKENDS_BY_PLATFORM[here] as readonly string[]).includes(name)) return name as BackendName;
  const known = (BACKEND_NAMES as readonly string[]).includes(name);
  throw new ConfigError(
    source,
    value,
    known
      ? `a backend that runs ${here === 'node' ? 'under Node' : 'in a browser'}: ${AVAILABILITY}`
      : `one of ${AVAILABILITY}`,
  );
}

async function tryNative(importPackage: (name: string) => Promise<unknown>): Promise<BackendInfo> {
  const failures: string[] = [];
  for (const pkg of NATIVE_PACKAGES) {
    try {
      // Importing either package registers the `tensorflow` backend in tfjs's global registry.
      await importPackage(pkg);
    } catch (error) {
      failures.push(`${pkg}: ${errorText(error)}`);
      continue;
    }
    if (!(await tf.setBackend('tensorflow'))) {
      failures.push(`${pkg}: loaded, but the "tensorflow" backend failed to initialise`);
      continue;
    }
    const backend = tf.backend() as { isUsingGpuDevice?: boolean };
    return {
      name: 'tensorflow',
      package: pkg,
      simd: null,
      threads: platform().parallelism(),
      gpu: backend.isUsingGpuDevice === true,
      skipped: [],
      notes: [],
    };
  }
  throw new BackendError(
    'tensorflow',
    'The "tensorflow" backend needs @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (CUDA GPU). ' +
      'Install one beside moderoute, for example `npm install @tensorflow/tfjs-node-gpu`; its install ' +
      'step downloads libtensorflow, so it needs internet access. Or choose another backend with ' +
      `MODEROUTE_BACKEND=wasm (embedded, no install). Tried: ${failures.join('; ')}`,
  );
}

/** A backend whose package the user loads (webgl, webgpu): loaded here if it can be, then started. */
async function tryRegistered(name: keyof typeof BACKEND_PACKAGES): Promise<BackendInfo> {
  const pkg = BACKEND_PACKAGES[name];
  if (!tf.findBackendFactory(name)) {
    try {
      await platform().importPackage(pkg);
    } catch {
      // Reported below if the backend is still not registered.
    }
  }
  if (!tf.findBackendFactory(name)) {
    throw new BackendError(
      name,
      `The "${name}" backend needs ${pkg}: \`npm install ${pkg}\`, then \`import ` +
        `'${pkg}'\` before initBackend (a bundle cannot load it by name)`,
    );
  }
  if (!(await tf.setBackend(name))) {
    throw new BackendError(
      name,
      `The "${name}" backend failed to initialise (does this browser support ` +
        `${name === 'webgl' ? 'WebGL' : 'WebGPU'}?)`,
    );
  }
  return { name, package: pkg, simd: null, threads: 1, gpu: true, skipped: [], notes: [] };
}

async function tryCpu(): Promise<BackendInfo> {
  if (!(await tf.setBackend('cpu')))
    throw new BackendError('cpu', 'The "cpu" backend failed to initialise');
  return {
    name: 'cpu',
    package: '@tensorflow/tfjs-backend-cpu',
    simd: null,
    threads: 1,
    gpu: false,
    skipped: [],
    notes: [],
  };
}

/**
 * Chooses, initialises and activates a backend, and returns what is active.
 *
 * `options.backend`, else `MODEROUTE_BACKEND`, names one backend: it is used or an error says
 * why not (for `tensorflow`, `webgl` and `webgpu`, what to install). A name that is unknown, or
 * that does not run here (`tensorflow` in a browser, `webgl` under Node), is a ConfigError naming
 * what runs where. Without either, the first of BACKENDS_BY_PLATFORM that initialises is used
 * (Node: tensorflow -> wasm -> cpu; browser: webgl -> wasm -> cpu), and `skipped` says why others
 * were not.
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const env = options.env ?? platform().env();
  const importPackage = options.importPackage ?? ((name: string) => platform().importPackage(name));
  // tfjs's Node banner and debug warnings go through backend_util.warn, which PROD silences.
  tf.env().set('PROD', true);

  const requested =
    options.backend !== undefined
      ? parseName(options.backend, 'backend')
      : env['MODEROUTE_BACKEND']
        ? parseName(env['MODEROUTE_BACKEND'], 'MODEROUTE_BACKEND')
        : undefined;

  // Checked first: a bad value is an error, never a reason to fall through to cpu.
  const threads = threadsRequest(options, env);
  const attempts: Record<BackendName, () => Promise<BackendInfo>> = {
    tensorflow: () => tryNative(importPackage),
    webgpu: () => tryRegistered('webgpu'),
    webgl: () => tryRegistered('webgl'),
    wasm: () => tryWasm(threads),
    cpu: tryCpu,
  };

  if (requested !== undefined) {
    active = await attempts[requested]();
    return active;
  }
  const skipped: { name: BackendName; reason: string }[] = [];
  for (const name of BACKENDS_BY_PLATFORM[platform().name]) {
    if (ON_REQUEST_ONLY.includes(name)) continue;
    try {
      active = { ...(await attempts[name]()), skipped };
      return active;
    } catch (error) {
      skipped.push({ name, reason: errorText(error) });
    }
  }
  throw new BackendError(
    'any',
    `No backend could be initialised: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`,
  );
}
