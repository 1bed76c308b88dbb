// Memory of `moderoute bench`'s variants: each variant's peak RSS and wasm heap, measured in a
// process of its own (the bench's composition root starts one per variant: `moderoute bench
// --memory-of <variant>`), since the interleaved passes hold every variant's model at once and a
// process's peak RSS and wasm heap only ever grow.
import { tf } from '@moderoute/core';
import type { LanguageModelConfig, ModelFactory } from '@moderoute/model';
import type { ReplicaPool } from '@moderoute/train';
import type { OptimizerName } from './config.js';
import { startVariant } from './variant.js';

/** A variant's (or a peer's) memory: its process's peak RSS, its wasm heap where it has one. */
export interface VariantMemory {
  /** Peak resident set of the process (its worker replicas included), MB. */
  peakRssMb: number;
  /**
   * The training thread's wasm heap (the backend's WebAssembly.Memory), MB: its high-water mark,
   * since a wasm heap never shrinks. Absent on other backends.
   */
  wasmHeapMb?: number;
}

/** The wasm backend's heap size in MB (its high-water mark), or undefined on other backends. */
export function wasmHeapMb(): number | undefined {
  const wasm = (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  const bytes = wasm?.HEAPU8?.buffer.byteLength;
  return bytes === undefined ? undefined : bytes / 2 ** 20;
}

/** This process's memory so far (VariantMemory). */
export function processMemory(): VariantMemory {
  const heap = wasmHeapMb();
  return {
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    ...(heap !== undefined ? { wasmHeapMb: heap } : {}),
  };
}

/**
 * Trains `steps` steps of a fresh model of `config` (as the bench does, core's own kernels as
 * `ownKernels` says) and returns this process's memory after them: what `--memory-of` prints, in
 * a process that ran nothing else.
 */
export async function probeVariantMemory(
  config: LanguageModelConfig,
  optimizerName: OptimizerName,
  models: ModelFactory,
  pool?: ReplicaPool,
  steps = 3,
  ownKernels?: boolean,
): Promise<VariantMemory> {
  const runner = await startVariant(
    config,
    optimizerName,
    models,
    pool,
    ownKernels === undefined ? {} : { ownKernels },
  );
  try {
    for (let i = 0; i < steps; i++) await runner.step();
  } finally {
    await runner.dispose();
  }
  return processMemory();
}
