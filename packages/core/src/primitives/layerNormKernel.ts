// Core's own layer-norm kernels on the wasm backend (issue 19): forward and backward of
// assembly/layerNorm.ts (AssemblyScript, compiled to dist/kernels/ by the build), instantiated on
// the backend's own WebAssembly.Memory so that they read and write tensors where they live, and
// registered as tfjs kernels for `wasm` only. layerNorm (layerNorm.ts) dispatches to them when
// `ownLayerNormKernels()` says they serve the active backend, else it runs its tfjs ops.
import type { DataId, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { platform } from '../platform.js';
import { tf } from '../tf.js';

/** Kernel names: inputs {x, gamma, beta}, attr eps -> [y, xhat, rstd]; and its backward. */
export const LAYER_NORM_FORWARD = 'ModerouteLayerNorm';
/** Inputs {dy, xhat, rstd, gamma} -> [dx, dgamma, dbeta]. */
export const LAYER_NORM_BACKWARD = 'ModerouteLayerNormGrad';

/** The compiled modules: for a plain imported memory and for a shared one (threaded build). */
export interface LayerNormBinaries {
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

interface LayerNormExports {
  layerNormForward(...args: number[]): void;
  layerNormBackward(...args: number[]): void;
}

/** The parts of BackendWasm these kernels use (all public on the class). */
interface HeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  getMemoryOffset(dataId: DataId): number;
  readonly wasm: {
    readonly HEAPU8?: Uint8Array;
    readonly wasmMemory?: unknown;
    readonly asm?: Record<string, unknown>;
  };
}

let binaries: LayerNormBinaries | undefined;
/** One instance per backend instance (each has its memory), null where none could be made. */
const instances = new WeakMap<object, LayerNormExports | null>();

/** The backend's WebAssembly.Memory, if it is the one its heap views look at. */
function backendMemory(be: HeapBackend): WasmMemory | undefined {
  const m = be.wasm;
  if (wasmApi === undefined) return undefined;
  const candidates = [m.wasmMemory, m.asm?.['memory'], ...Object.values(m.asm ?? {})];
  const memory = candidates.find((c): c is WasmMemory => c instanceof wasmApi.Memory);
  return memory !== undefined && memory.buffer === m.HEAPU8?.buffer ? memory : undefined;
}

function instanceFor(backend: unknown): LayerNormExports | null {
  const be = backend as HeapBackend;
  let inst = instances.get(be);
  if (inst === undefined) {
    inst = null;
    const memory = be.wasm === undefined ? undefined : backendMemory(be);
    if (memory !== undefined && binaries !== undefined && wasmApi !== undefined) {
      const shared =
        typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
      const module = new wasmApi.Module(shared ? binaries.shared : binaries.plain);
      inst = new wasmApi.Instance(module, { env: { memory } })
        .exports as unknown as LayerNormExports;
    }
    instances.set(be, inst);
  }
  return inst;
}

type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };

function forward({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const be = backend as HeapBackend;
  const x = inputs['x'] as TensorInfo;
  const [n, d] = x.shape as [number, number];
  const y = be.makeOutput([n, d], 'float32');
  const xhat = be.makeOutput([n, d], 'float32');
  const rstd = be.makeOutput([n, 1], 'float32');
  const at = (t: TensorInfo | undefined) => be.getMemoryOffset((t as TensorInfo).dataId);
  const eps = attrs?.['eps'] as number;
  instanceFor(be)!.layerNormForward(
    at(x),
    at(inputs['gamma']),
    at(inputs['beta']),
    at(y),
    at(xhat),
    at(rstd),
    n,
    d,
    eps,
  );
  return [y, xhat, rstd];
}

function backward({ inputs, backend }: KernelArgs): TensorInfo[] {
  const be = backend as HeapBackend;
  const dy = inputs['dy'] as TensorInfo;
  const [n, d] = dy.shape as [number, number];
  const dx = be.makeOutput([n, d], 'float32');
  const dgamma = be.makeOutput([d], 'float32');
  const dbeta = be.makeOutput([d], 'float32');
  const at = (t: TensorInfo | undefined) => be.getMemoryOffset((t as TensorInfo).dataId);
  instanceFor(be)!.layerNormBackward(
    at(dy),
    at(inputs['xhat']),
    at(inputs['rstd']),
    at(inputs['gamma']),
    at(dx),
    at(dgamma),
    at(dbeta),
    n,
    d,
  );
  return [dx, dgamma, dbeta];
}

/** Registers the two kernels for `wasm` with these modules (once; later calls change nothing). */
export function installLayerNormKernels(modules: LayerNormBinaries): void {
  if (binaries !== undefined) return;
  binaries = modules;
  for (const [kernelName, kernelFunc] of [
    [LAYER_NORM_FORWARD, forward],
    [LAYER_NORM_BACKWARD, backward],
  ] as const) {
    if (tf.getKernel(kernelName, 'wasm') === undefined)
      tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as never });
  }
}

let enabled: boolean | undefined;

/**
 * Switches core's own kernels on or off for comparison (undefined: back to the default, on
 * unless the environment sets MODEROUTE_OWN_KERNELS=0).
 */
export function setOwnKernels(on: boolean | undefined): void {
  enabled = on;
}

/** Whether layerNorm runs the own kernels here: on, registered and instantiable for the active backend. */
export function ownLayerNormKernels(): boolean {
  const on = enabled ?? platform().env()['MODEROUTE_OWN_KERNELS'] !== '0';
  if (!on || tf.getKernel(LAYER_NORM_FORWARD, tf.getBackend()) === undefined) return false;
  return instanceFor(tf.backend()) !== null;
}
