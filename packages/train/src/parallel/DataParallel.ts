// Data-parallel training steps across worker threads (issue 7). The wasm backend's own threads
// speed up large matrix products only; attention's small per-head products, transposes,
// elementwise kernels and dispatch stay on one core. Splitting the batch's rows among replicas
// that each run a single-thread backend keeps every core busy with all of the step.
//
// Replica 0 is the training thread's model itself; replicas 1..R-1 are worker threads
// (replicaWorker.ts) holding copies built from the same config. Per step:
//   1. the training thread sends every variable's value and each replica's rows;
//   2. every replica computes its rows' loss L_r and gradients g_r (shardStep.ts), and runs the
//      routers' training-mode updates of their untrained state on its rows;
//   3. the step's loss is L = sum_r (n_r / B) L_r and its gradient g = sum_r (n_r / B) g_r, for
//      n_r rows of B; untrained state is averaged with the same weights.
// For losses that are means over a batch's sequences (next-token loss, the MoD router's BCE) and
// routing decided per sequence (MoD's top-k, Raposo et al. 2024 eq. 1), L equals the one-replica
// loss of the whole batch, so the gradient is the same up to float rounding; the MoD threshold's
// cut estimate, a running mean or moving average of per-batch means, is linear in them, so its
// weighted average is exactly the one-replica update. Routing decided across the batch (MoE
// capacity, load-balancing losses) is decided per replica's rows, as expert capacity is per
// device in GShard and Switch Transformers (docs/training.md).
// The optimizer, checkpoints and evaluation stay on the training thread.
// Axis legend: B batch, T tokens per sequence.
import { Worker } from 'node:worker_threads';
import { ConfigError, ModerouteError, tf, type Tensor, type Tensor2D, type Variable } from '@moderoute/core';
import type { LanguageModel } from '@moderoute/model';
import { assignPacked, packTensors, type FromReplica, type InitMessage, type StepReply, type ToReplica } from './protocol.js';
import { mergeRoutingSummaries, shardGradients, type ShardGradients } from './shardStep.js';

/** Most replicas a run may ask for. */
export const MAX_REPLICAS = 16;

/** A replica worker failed (its model, its backend, or the thread itself). */
export class ReplicaError extends ModerouteError {
  override readonly name = 'ReplicaError';
}

/** Rows of a batch of `batch` per replica: as even as possible, the first replicas one more. */
export function shardRows(batch: number, replicas: number): number[] {
  const base = Math.floor(batch / replicas);
  const extra = batch % replicas;
  return Array.from({ length: replicas }, (_, r) => base + (r < extra ? 1 : 0));
}

/** How a worker thread starts the replica entry: built .js directly, sources through tsx. */
function workerEntry(): { file: URL; workerData: Record<string, unknown> } {
  const here = import.meta.url;
  if (/\.[cm]?ts$/.test(new URL(here).pathname)) {
    return { file: new URL('./tsxWorkerBoot.mjs', here), workerData: { entry: new URL('./replicaWorker.ts', here).href } };
  }
  return { file: new URL('./replicaWorker.js', here), workerData: {} };
}

interface Pending {
  readonly resolve: (reply: StepReply) => void;
  readonly reject: (error: Error) => void;
}

class ReplicaThread {
  private pending: Pending | undefined;
  private failure: Error | undefined;
  private closing = false;

  private constructor(
    readonly index: number,
    private readonly worker: Worker,
  ) {
    worker.on('message', (message: FromReplica) => {
      if (message.type === 'result') this.settle(undefined, message);
      else if (message.type === 'error') this.fail(new ReplicaError(`data-parallel replica ${index} failed: ${message.message}`));
    });
    worker.on('error', (error) => this.fail(new ReplicaError(`data-parallel replica ${index} failed: ${error.message}`)));
    worker.on('exit', (code) => {
      if (!this.closing) this.fail(new ReplicaError(`data-parallel replica ${index} stopped unexpectedly (exit code ${code})`));
    });
  }

  static async start(index: number, init: InitMessage, timeoutMs: number): Promise<ReplicaThread> {
    const entry = workerEntry();
    const worker = new Worker(entry.file, { workerData: entry.workerData });
    const thread = new ReplicaThread(index, worker);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ReplicaError(`data-parallel replica ${index} did not start within ${timeoutMs / 1000} s`)), timeoutMs);
      const onMessage = (message: FromReplica) => {
        if (message.type === 'ready') done();
        else if (message.type === 'error') done(new ReplicaError(`data-parallel replica ${index} could not start: ${message.message}`));
      };
      const onExit = (code: number) => done(new ReplicaError(`data-parallel replica ${index} exited while starting (exit code ${code})`));
      const onError = (error: Error) => done(new ReplicaError(`data-parallel replica ${index} could not start: ${error.message}`));
      const done = (error?: Error) => {
        clearTimeout(timer);
        worker.off('message', onMessage).off('exit', onExit).off('error', onError);
        if (error) reject(error);
        else resolve();
      };
      worker.on('message', onMessage).on('exit', onExit).on('error', onError);
      worker.postMessage(init satisfies ToReplica);
    }).catch(async (error: unknown) => {
      thread.closing = true;
      await worker.terminate();
      throw error;
    });
    // Idle replicas do not keep the process alive; a step in flight does (ref below).
    worker.unref();
    return thread;
  }

  /** Sends one step; the reply arrives through `result`. */
  post(message: ToReplica, transfer: ArrayBuffer[]): Promise<StepReply> {
    if (this.failure) return Promise.reject(this.failure);
    this.worker.ref();
    const reply = new Promise<StepReply>((resolve, reject) => (this.pending = { resolve, reject }));
    this.worker.postMessage(message, transfer);
    return reply;
  }

  private settle(error: Error | undefined, reply?: StepReply): void {
    const pending = this.pending;
    this.pending = undefined;
    this.worker.unref();
    if (pending === undefined) return;
    if (error) pending.reject(error);
    else pending.resolve(reply!);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.settle(error);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.pending?.reject(new ReplicaError(`data-parallel replica ${this.index} was closed during a step`));
    this.pending = undefined;
    await this.worker.terminate();
  }
}

/** Options of `DataParallel.start`. */
export interface DataParallelOptions {
  /** Replicas including the training thread's own model, 2 to MAX_REPLICAS. */
  readonly replicas: number;
  /** How long a worker may take to load its backend and build its model (default 120 s). */
  readonly startTimeoutMs?: number;
}

/**
 * Replicas of a model in worker threads, for data-parallel training steps. Built from the
 * model's config with the built-in modules (a model from a custom container cannot cross
 * threads). Close it when done; idle replicas do not keep the process alive.
 */
export class DataParallel {
  private nextId = 0;

  private constructor(
    private readonly model: LanguageModel,
    private readonly threads: readonly ReplicaThread[],
    private readonly variables: readonly Variable[],
    private readonly stateVariables: readonly Variable[],
  ) {}

  /** Starts `replicas - 1` worker replicas of `model` on the active backend, one thread each. */
  static async start(model: LanguageModel, options: DataParallelOptions): Promise<DataParallel> {
    const { replicas } = options;
    if (!Number.isInteger(replicas) || replicas < 2 || replicas > MAX_REPLICAS) throw new ConfigError('replicas', replicas, `an integer from 2 to ${MAX_REPLICAS} for data-parallel steps`);
    const named = model.namedParameters();
    const init = (replica: number): InitMessage => ({
      type: 'init',
      replica,
      config: model.getConfig(),
      backend: tf.getBackend(),
      variables: [...named].map(([name, v]) => ({ name, shape: v.shape, trainable: v.trainable })),
    });
    const started = await Promise.allSettled(Array.from({ length: replicas - 1 }, (_, i) => ReplicaThread.start(i + 1, init(i + 1), options.startTimeoutMs ?? 120_000)));
    const threads = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(threads.map((t) => t.close()));
      throw failed.reason;
    }
    const variables = [...named.values()];
    return new DataParallel(model, threads, variables, variables.filter((v) => !v.trainable));
  }

  /** Replicas, the training thread's included. */
  get replicas(): number {
    return this.threads.length + 1;
  }

  /**
   * The loss and gradients of one training step on `inputs` -> `targets` (int32 [B, T]),
   * computed by splitting the rows among the replicas and combining as described above, with the
   * model's current weights. The model's untrained state ends averaged over the replicas.
   */
  async step(inputs: Tensor2D, targets: Tensor2D): Promise<ShardGradients> {
    const model = this.model;
    const [batch, seqLen] = inputs.shape;
    const rows = shardRows(batch, this.replicas);
    const weights = rows.map((n) => n / batch);
    const inputHost = inputs.dataSync() as Int32Array;
    const targetHost = targets.dataSync() as Int32Array;
    const packed = packTensors(this.variables as Variable[]);
    // Replicas with no rows (a batch smaller than the pool) sit the step out.
    const replies: Promise<StepReply>[] = [];
    let start = rows[0]!;
    this.threads.forEach((thread, i) => {
      const n = rows[i + 1]!;
      if (n > 0) {
        const message = {
          type: 'step' as const,
          id: this.nextId++,
          weights: packed.slice(),
          inputs: inputHost.slice(start * seqLen, (start + n) * seqLen),
          targets: targetHost.slice(start * seqLen, (start + n) * seqLen),
          rows: n,
          seqLen,
        };
        replies.push(thread.post(message, [message.weights.buffer, message.inputs.buffer, message.targets.buffer]));
      }
      start += n;
    });
    // Meanwhile the training thread computes replica 0's rows.
    const own = tf.tidy(() => ({ inputs: tf.slice(inputs, [0, 0], [rows[0]!, seqLen]) as Tensor2D, targets: tf.slice(targets, [0, 0], [rows[0]!, seqLen]) as Tensor2D }));
    let local: ShardGradients;
    try {
      local = shardGradients(model, own.inputs, own.targets);
    } catch (error) {
      await Promise.allSettled(replies);
      throw error;
    } finally {
      tf.dispose([own.inputs, own.targets]);
    }
    let others: StepReply[];
    try {
      others = await Promise.all(replies);
    } catch (error) {
      tf.dispose([...local.grads.values()]);
      throw error;
    }
    const w = [weights[0]!, ...weights.slice(1).filter((x) => x > 0)];
    // Replies pack gradients in the model's parameter order, as local.grads is.
    const grads = new Map<string, Tensor>();
    let offset = 0;
    for (const [name, g] of local.grads) {
      const size = g.size;
      grads.set(name, tf.tidy(() => others.reduce<Tensor>((acc, reply, r) => tf.add(acc, tf.mul(tf.tensor(reply.grads.subarray(offset, offset + size), g.shape, 'float32'), w[r + 1]!)), tf.mul(g, w[0]!))));
      offset += size;
    }
    tf.dispose([...local.grads.values()]);
    if (this.stateVariables.length > 0) {
      const own = packTensors(this.stateVariables as Variable[]);
      const mean = own.map((x, k) => others.reduce((s, reply, r) => s + w[r + 1]! * reply.state[k]!, w[0]! * x));
      assignPacked(this.stateVariables, mean);
    }
    const all = [local as { loss: number; lmLoss: number; auxLosses: Readonly<Record<string, number>> }, ...others];
    const auxNames = Object.keys(local.auxLosses);
    return {
      loss: all.reduce((s, p, r) => s + w[r]! * p.loss, 0),
      lmLoss: all.reduce((s, p, r) => s + w[r]! * p.lmLoss, 0),
      auxLosses: Object.fromEntries(auxNames.map((k) => [k, all.reduce((s, p, r) => s + w[r]! * (p.auxLosses[k] ?? 0), 0)])),
      grads,
      routing: mergeRoutingSummaries([local.routing, ...others.map((o) => o.routing)], w),
    };
  }

  /** Stops the worker replicas. */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
