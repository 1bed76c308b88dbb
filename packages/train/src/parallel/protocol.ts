// Messages between the training thread and its replica workers (DataParallel.ts,
// replicaWorker.ts), and the packing of named variables into one Float32Array. Weights and
// gradients travel through SharedArrayBuffers set up when a model is attached (no allocation or
// copy per message); a message only says when a buffer is ready, and the next write waits for
// the reply. The routers' statistics, a few numbers, travel in the reply itself.
import {
  readInto,
  tensorFromView,
  tf,
  type PeakProduct,
  type Tensor,
  type Variable,
} from '@moderoute/core';
import type { LanguageModelConfig, ModelStatistics } from '@moderoute/model';
import type { BlockRoutingSummary, LossValues } from './shardStep.js';

/** Starts the replica's backend. */
export interface InitMessage {
  readonly type: 'init';
  readonly replica: number;
  /** tfjs backend name of the training thread ('wasm', 'cpu', ...); replicas run one thread each. */
  readonly backend: string;
  /** URL of an ES module whose `containerModules` export the replica adds to its container. */
  readonly modules?: string;
}

/**
 * Builds the replica's model in `slot` (replacing one there); without `alongside`, every other
 * slot's model is dropped first (one model at a time).
 */
export interface ModelMessage {
  readonly type: 'model';
  readonly slot: number;
  readonly alongside: boolean;
  readonly config: LanguageModelConfig;
  /** Every variable of the model in packing order (namedParameters order), with its shape. */
  readonly variables: readonly {
    readonly name: string;
    readonly shape: readonly number[];
    readonly trainable: boolean;
  }[];
  /** float32 values of every variable, written by the training thread before each step (shared by all replicas). */
  readonly weights: SharedArrayBuffer;
  /** float32 gradients of the trainable variables, written by this replica (its own). */
  readonly grads: SharedArrayBuffer;
  /**
   * Core's own wasm kernels on or off for this model's steps (core's setOwnKernels, set in the
   * worker before each of them); absent: the worker's default.
   */
  readonly ownKernels?: boolean;
}

export interface StepMessage {
  readonly type: 'step';
  readonly id: number;
  /** The model's slot (ModelMessage.slot). */
  readonly slot: number;
  /** int32 [rows, seqLen], row-major; the weights are in ModelMessage.weights. */
  readonly inputs: Int32Array;
  readonly targets: Int32Array;
  readonly rows: number;
  readonly seqLen: number;
  /** The training step and run seed, which key the routing randomness with the replica index. */
  readonly step?: number;
  readonly seed?: number;
}

/** Asks for the replica's plain 2-D matmul throughput (core's matmulPeakGflops), run at once on every replica. */
export interface PeakMessage {
  readonly type: 'peak';
  readonly reps: number;
  /** Whose product (default tfjs's). */
  readonly product?: PeakProduct;
}

/** Drops the model in `slot` (answered with a ready reply). */
export interface DropMessage {
  readonly type: 'drop';
  readonly slot: number;
}

export type ToReplica =
  InitMessage | ModelMessage | StepMessage | PeakMessage | DropMessage | { readonly type: 'close' };

/** Where a worker's part of a step went, in ms on its own clock (DataParallel.lastTiming). */
export interface ReplicaTiming {
  /** Loading the step's weights from the shared buffer into its variables. */
  readonly loadMs: number;
  /** Its rows' loss and gradients. */
  readonly computeMs: number;
  /** Writing its gradients into its shared buffer. */
  readonly packMs: number;
}

export interface StepReply extends LossValues {
  readonly type: 'result';
  readonly id: number;
  readonly timing: ReplicaTiming;
  /**
   * Which trainable variables (ModelMessage.variables order, trainable only) have a gradient.
   * ModelMessage.grads holds every trainable variable's gradient, packed in that order, with
   * zeros for those without one (so the training thread combines them as one vector).
   */
  readonly present: boolean[];
  readonly routing: BlockRoutingSummary[];
  /** The routers' statistics of the replica's rows, folded by the training thread. */
  readonly statistics: ModelStatistics;
}

export interface PeakReply {
  readonly type: 'peak';
  readonly gflops: number;
}

/** The init or model message was carried out. */
export interface ReadyReply {
  readonly type: 'ready';
}

export type FromReplica =
  | ReadyReply
  | StepReply
  | PeakReply
  | { readonly type: 'error'; readonly message: string; readonly stack?: string };

/** Copies tensors, in order, into `out` (default: a new Float32Array of their total size). */
export function packTensors(
  tensors: readonly Tensor[],
  out: Float32Array<ArrayBufferLike> = new Float32Array(tensors.reduce((n, t) => n + t.size, 0)),
): Float32Array<ArrayBufferLike> {
  const total = tensors.reduce((n, t) => n + t.size, 0);
  if (total > out.length)
    throw new Error(`the tensors hold ${total} numbers; the buffer takes ${out.length}`);
  let offset = 0;
  for (const t of tensors) {
    readInto(t, out, offset);
    offset += t.size;
  }
  return out;
}

/** Assigns consecutive slices of `values` to `variables`, in order. */
export function assignPacked(
  variables: readonly Variable[],
  values: Float32Array<ArrayBufferLike>,
): void {
  let offset = 0;
  for (const v of variables) {
    tf.tidy(() => v.assign(tensorFromView(values.subarray(offset, offset + v.size), v.shape)));
    offset += v.size;
  }
  if (offset > values.length)
    throw new Error(`packed values hold ${values.length} numbers; the variables take ${offset}`);
}
