// Core's own wasm kernels (issue 19): the functions of assembly/index.ts (AssemblyScript, compiled
// to dist/kernels/ by scripts/build-wasm-kernels.mjs), instantiated on the wasm backend's own
// WebAssembly.Memory so that they read and write tensors where they live, and registered as tfjs
// kernels for `wasm` only. Each primitive with an own kernel (layerNormKernel.ts,
// geluKernel.ts, ...) declares its tfjs kernels here with `ownKernel`; the primitive runs them
// when `ownKernelsServe()` says they serve the active backend, else its tfjs ops. A tfjs kernel
// of wasm's own can be overridden (`ownKernelOverride`): the own kernel runs where it serves and
// takes the call, tfjs's original otherwise.
import type { DataId, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { platform } from '../platform.js';
import { tf } from '../tf.js';

/** The compiled module of assembly/index.ts: for a plain imported memory and for a shared one. */
export interface OwnKernelBinaries {
  readonly plain: Uint8Array;
  readonly shared: Uint8Array;
}

/** The part of the WebAssembly global used here (core's own lib has neither DOM nor Node types). */
interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}
interface WasmApi {
  Memory: abstract new (...args: never[]) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** The exported functions of assembly/index.ts: byte offsets and sizes in, nothing out. */
export type OwnKernelExports = Readonly<Record<string, (...args: number[]) => void>>;

/** The parts of BackendWasm the kernels use (all public on the class). */
export interface HeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  disposeData(dataId: DataId): boolean;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  getMemoryOffset(dataId: DataId): number;
  readonly wasm: {
    readonly HEAPU8?: Uint8Array;
    readonly wasmMemory?: unknown;
    readonly asm?: Record<string, unknown>;
  };
}

/** What a kernel function gets from tfjs, and the module's exports on its backend's memory. */
export interface OwnKernelCall {
  readonly inputs: NamedTensorInfoMap;
  readonly attrs: NamedAttrMap;
  readonly backend: HeapBackend;
  readonly exports: OwnKernelExports;
  /** The byte offset of a tensor's data in the backend's memory. */
  readonly offset: (t: TensorInfo | undefined) => number;
}

let binaries: OwnKernelBinaries | undefined;
/** One instance per backend instance (each has its memory), null where none could be made. */
const instances = new WeakMap<object, OwnKernelExports | null>();
/** The declared kernels: what each calls in the module, and how it runs. */
const declared = new Map<
  string,
  { readonly uses: readonly string[]; readonly run: (call: OwnKernelCall) => TensorInfo[] }
>();

/** An override's own kernel: its result, or undefined to leave the call to tfjs's original. */
type OverrideRun = (call: OwnKernelCall) => TensorInfo | TensorInfo[] | undefined;
/** The declared overrides of tfjs kernels. */
const overrides = new Map<
  string,
  { readonly uses: readonly string[]; readonly run: OverrideRun }
>();
/** On an override's registered config: the tfjs config it replaced (the same in every copy of core). */
const ORIGINAL = Symbol.for('@moderoute/core/overriddenKernel');
/** On an override's registered config: the copy of this module that registered it. */
const OWNER = Symbol.for('@moderoute/core/overrideOwner');
const thisCopy = {};
type KernelConfig = NonNullable<ReturnType<typeof tf.getKernel>>;

/** Runs `run` with a scratch buffer of `floats` floats (its byte offset): a tensor made and freed around it. */
export function withScratch(
  call: OwnKernelCall,
  floats: number,
  run: (scratch: number) => void,
): void {
  const { backend } = call;
  const scratch = backend.makeOutput([floats], 'float32');
  try {
    run(call.offset(scratch));
  } finally {
    backend.disposeData(scratch.dataId);
  }
}

/** The backend's WebAssembly.Memory, if it is the one its heap views look at. */
function backendMemory(be: HeapBackend): WasmMemory | undefined {
  const m = be.wasm;
  if (wasmApi === undefined) return undefined;
  const candidates = [m.wasmMemory, m.asm?.['memory'], ...Object.values(m.asm ?? {})];
  const memory = candidates.find((c): c is WasmMemory => c instanceof wasmApi.Memory);
  return memory !== undefined && memory.buffer === m.HEAPU8?.buffer ? memory : undefined;
}

function instanceFor(backend: unknown): OwnKernelExports | null {
  const be = backend as HeapBackend;
  let inst = instances.get(be);
  if (inst === undefined) {
    inst = null;
    const memory = be.wasm === undefined ? undefined : backendMemory(be);
    if (memory !== undefined && binaries !== undefined && wasmApi !== undefined) {
      const shared =
        typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
      const module = new wasmApi.Module(shared ? binaries.shared : binaries.plain);
      inst = new wasmApi.Instance(module, { env: { memory } }).exports as OwnKernelExports;
    }
    instances.set(be, inst);
  }
  return inst;
}

/** The call of an own kernel on `backend`, or undefined where its module lacks a function of `uses`. */
function ownCall(
  args: { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap },
  uses: readonly string[],
): OwnKernelCall | undefined {
  const backend = args.backend as HeapBackend;
  const exports = instanceFor(backend);
  if (exports === null || uses.some((fn) => typeof exports[fn] !== 'function')) return undefined;
  return {
    inputs: args.inputs,
    attrs: args.attrs ?? {},
    backend,
    exports,
    offset: (t) => backend.getMemoryOffset((t as TensorInfo).dataId),
  };
}

/**
 * Replaces wasm's `kernelName` by a kernel that runs `run` where the own kernels are on and
 * instantiable and `run` takes the call, else the tfjs original with the same arguments. The
 * original's setup and dispose stay. Idempotent, never wrapping an override: this module's own
 * earlier override is replaced around the original it kept; another copy's (core loaded twice
 * into one tfjs) is left in place, as `register` leaves a kernel registered first, so that the
 * switch of the copy that registered it (setOwnKernels) keeps governing it.
 */
function overrideKernel(kernelName: string, uses: readonly string[], run: OverrideRun): void {
  const current = tf.getKernel(kernelName, 'wasm') as
    (KernelConfig & { [ORIGINAL]?: KernelConfig; [OWNER]?: object }) | undefined;
  if (current === undefined) return;
  if (current[ORIGINAL] !== undefined && current[OWNER] !== thisCopy) return;
  const original = current[ORIGINAL] ?? current;
  const kernelFunc = (args: {
    inputs: NamedTensorInfoMap;
    backend: unknown;
    attrs?: NamedAttrMap;
  }) => {
    const call = ownKernelsOn() ? ownCall(args, uses) : undefined;
    // The original's kernelFunc read at each call: the config is the one place that holds it.
    const tfjs = original.kernelFunc as (a: unknown) => TensorInfo | TensorInfo[];
    return (call === undefined ? undefined : run(call)) ?? tfjs(args);
  };
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({
    ...original,
    kernelFunc: kernelFunc as never,
    ...{ [ORIGINAL]: original, [OWNER]: thisCopy },
  });
}

function register(kernelName: string, run: (call: OwnKernelCall) => TensorInfo[]): void {
  if (tf.getKernel(kernelName, 'wasm') !== undefined) return;
  const kernelFunc = (args: {
    inputs: NamedTensorInfoMap;
    backend: unknown;
    attrs?: NamedAttrMap;
  }) => run(ownCall(args, [])!);
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as never });
}

/**
 * Overrides wasm's own tfjs kernel `kernelName` (loaded before this is called) with `run`, which
 * calls the module functions `uses` and returns undefined for a call it leaves to tfjs's original
 * (a dtype or form it does not handle). Registered once the module is installed; tfjs's original
 * runs wherever the own kernels do not serve (switched off, a module without `uses`).
 */
export function ownKernelOverride(
  kernelName: string,
  uses: readonly string[],
  run: OverrideRun,
): void {
  overrides.set(kernelName, { uses, run });
  if (binaries !== undefined) overrideKernel(kernelName, uses, run);
}

/**
 * Declares a tfjs kernel `kernelName` for `wasm` that runs `run` on the module's exports, calling
 * the module functions `uses`: it is registered once the module is installed (at once, if it
 * already is), and serves only where the module has every function it uses (a module built from
 * older sources leaves it to the tfjs path).
 */
export function ownKernel(
  kernelName: string,
  uses: readonly string[],
  run: (call: OwnKernelCall) => TensorInfo[],
): void {
  declared.set(kernelName, { uses, run });
  if (binaries !== undefined) register(kernelName, run);
}

/** Installs the compiled module and registers every declared kernel (once; later calls change nothing). */
export function installOwnKernels(modules: OwnKernelBinaries): void {
  if (binaries !== undefined) return;
  binaries = modules;
  for (const [kernelName, { run }] of declared) register(kernelName, run);
  for (const [kernelName, { uses, run }] of overrides) overrideKernel(kernelName, uses, run);
}

let enabled: boolean | undefined;

/**
 * Switches core's own kernels on or off for comparison (undefined: back to the default, on
 * unless the environment sets MODEROUTE_OWN_KERNELS=0).
 */
export function setOwnKernels(on: boolean | undefined): void {
  enabled = on;
}

/**
 * Runs `body` with core's own kernels switched `on` (undefined: as they are), then puts back the
 * switch exactly as it was, an unset default included, whether `body` returns or throws.
 */
export function withOwnKernels<T>(on: boolean | undefined, body: () => T): T {
  if (on === undefined) return body();
  const before = enabled;
  enabled = on;
  try {
    return body();
  } finally {
    enabled = before;
  }
}

/** Whether core's own kernels are switched on (setOwnKernels, else MODEROUTE_OWN_KERNELS). */
export function ownKernelsOn(): boolean {
  return enabled ?? platform().env()['MODEROUTE_OWN_KERNELS'] !== '0';
}

/**
 * Whether the own kernels `kernelNames` (a primitive's forward and backward) run here: switched
 * on, registered for the active backend, instantiable on its memory, and every module function
 * they use present in the installed module.
 */
export function ownKernelsServe(...kernelNames: string[]): boolean {
  if (!ownKernelsOn()) return false;
  if (kernelNames.some((k) => tf.getKernel(k, tf.getBackend()) === undefined)) return false;
  const inst = instanceFor(tf.backend());
  if (inst === null) return false;
  return kernelNames.every(
    (k) =>
      (declared.get(k) ?? overrides.get(k))?.uses.every((fn) => typeof inst[fn] === 'function') ??
      true,
  );
}
