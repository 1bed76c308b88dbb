// Messages between the training thread and its replica workers (DataParallel.ts,
// replicaWorker.ts), and the packing of named variables into one Float32Array (one transfer
// per message instead of one per parameter).
import { tf, type Tensor, type Variable } from '@moderoute/core';
import type { LanguageModelConfig } from '@moderoute/model';
import type { BlockRoutingSummary, LossValues } from './shardStep.js';

/** Starts the replica's backend. */
export interface InitMessage {
  readonly type: 'init';
  readonly replica: number;
  /** tfjs backend name of the training thread ('wasm', 'cpu', ...); replicas run one thread each. */
  readonly backend: string;
}

/** Builds (or replaces) the replica's model. */
export interface ModelMessage {
  readonly type: 'model';
  readonly config: LanguageModelConfig;
  /** Every variable of the model in packing order (namedParameters order), with its shape. */
  readonly variables: readonly { readonly name: string; readonly shape: readonly number[]; readonly trainable: boolean }[];
}

export interface StepMessage {
  readonly type: 'step';
  readonly id: number;
  /** Every variable's value (ModelMessage.variables order). */
  readonly weights: Float32Array;
  /** int32 [rows, seqLen], row-major. */
  readonly inputs: Int32Array;
  readonly targets: Int32Array;
  readonly rows: number;
  readonly seqLen: number;
}

/** Asks for the replica's plain 2-D matmul throughput (core's matmulPeakGflops), run at once on every replica. */
export interface PeakMessage {
  readonly type: 'peak';
  readonly reps: number;
}

export type ToReplica = InitMessage | ModelMessage | StepMessage | PeakMessage | { readonly type: 'close' };

export interface StepReply extends LossValues {
  readonly type: 'result';
  readonly id: number;
  /** Which trainable variables (ModelMessage.variables order, trainable only) have a gradient. */
  readonly present: boolean[];
  /** Their gradients, packed in that order (the present ones only). */
  readonly grads: Float32Array;
  /** The untrained variables after the step (their training-mode updates), same order. */
  readonly state: Float32Array;
  readonly routing: BlockRoutingSummary[];
}

export interface PeakReply {
  readonly type: 'peak';
  readonly gflops: number;
}

/** The init or model message was carried out. */
export interface ReadyReply {
  readonly type: 'ready';
}

export type FromReplica = ReadyReply | StepReply | PeakReply | { readonly type: 'error'; readonly message: string; readonly stack?: string };

/** Copies tensors, in order, into one new Float32Array. */
export function packTensors(tensors: readonly Tensor[]): Float32Array {
  const out = new Float32Array(tensors.reduce((n, t) => n + t.size, 0));
  let offset = 0;
  for (const t of tensors) {
    out.set(t.dataSync() as Float32Array, offset);
    offset += t.size;
  }
  return out;
}

/** Assigns consecutive slices of `values` to `variables`, in order. */
export function assignPacked(variables: readonly Variable[], values: Float32Array): void {
  let offset = 0;
  for (const v of variables) {
    tf.tidy(() => v.assign(tf.tensor(values.subarray(offset, offset + v.size), v.shape, 'float32')));
    offset += v.size;
  }
  if (offset !== values.length) throw new Error(`packed values hold ${values.length} numbers; the variables take ${offset}`);
}
