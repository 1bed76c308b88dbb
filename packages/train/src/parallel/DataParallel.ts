// Data-parallel training steps across worker threads. The wasm backend's own threads
// speed up large matrix products only; attention's small per-head products, transposes,
// elementwise kernels and dispatch stay on one core. Splitting the batch's rows among replicas
// that each run a single-thread backend keeps every core busy with all of the step.
//
// Replica 0 is the training thread's model itself; replicas 1..R-1 are worker threads of a
// ReplicaPool (replicaWorker.ts), which outlives models: DataParallel attaches one model at a
// time, and the workers build copies from its config (a pool kept across runs keeps its threads
// warm and starts once). Per step:
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
// device in GShard and Switch Transformers (docs/architecture.md, data-parallel training).
// The optimizer, checkpoints and evaluation stay on the training thread.
// Axis legend: B batch, T tokens per sequence.
import { Worker } from 'node:worker_threads';
import {
  ConfigError,
  ModerouteError,
  concatFlat,
  matmulPeakGflops,
  splitFlat,
  tensorFromView,
  tf,
  type Tensor,
  type Tensor2D,
  type Variable,
} from '@moderoute/core';
import type { LanguageModel } from '@moderoute/model';
import {
  assignPacked,
  packTensors,
  type FromReplica,
  type ModelMessage,
  type PeakReply,
  type ReadyReply,
  type StepReply,
  type ToReplica,
} from './protocol.js';
import { pluginModuleUrl } from '../plugins.js';
import { mergeRoutingSummaries, shardGradients, type ShardGradients } from './shardStep.js';

/** Most replicas a run may ask for. */
export const MAX_REPLICAS = 16;

/** A replica worker failed (its model, its backend, or the thread itself). */
export class ReplicaError extends ModerouteError {
  override readonly name = 'ReplicaError';
}

/** Floats per chunk of the replicas' gradient combine (DataParallel's combine): 1 MB, as AdamW's. */
const COMBINE_CHUNK_FLOATS = 1 << 18;

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
    return {
      file: new URL('./tsxWorkerBoot.mjs', here),
      workerData: { entry: new URL('./replicaWorker.ts', here).href },
    };
  }
  return { file: new URL('./replicaWorker.js', here), workerData: {} };
}

type Reply = ReadyReply | StepReply | PeakReply;

interface Pending {
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: Error) => void;
}

/** One worker thread: one request at a time, each answered by one reply or an error. */
class ReplicaThread {
  private pending: Pending | undefined;
  private failure: Error | undefined;
  private closing = false;

  constructor(
    readonly index: number,
    private readonly worker: Worker,
  ) {
    worker.on('message', (message: FromReplica) => {
      if (message.type === 'error')
        this.settle(new ReplicaError(`data-parallel replica ${index} failed: ${message.message}`));
      else this.settle(undefined, message);
    });
    worker.on('error', (error) =>
      this.fail(new ReplicaError(`data-parallel replica ${index} failed: ${error.message}`)),
    );
    worker.on('exit', (code) => {
      if (!this.closing)
        this.fail(
          new ReplicaError(
            `data-parallel replica ${index} stopped unexpectedly (exit code ${code})`,
          ),
        );
    });
    // Idle replicas do not keep the process alive; a request in flight does (ref in post).
    worker.unref();
  }

  /** Sends one request and resolves with its reply; rejects on an error reply or a dead thread. */
  post<R extends Reply>(
    message: ToReplica,
    transfer: ArrayBuffer[] = [],
    timeoutMs?: number,
  ): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending)
      return Promise.reject(
        new ReplicaError(`data-parallel replica ${this.index} is busy: one request at a time`),
      );
    this.worker.ref();
    const reply = new Promise<R>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(
              () =>
                this.settle(
                  new ReplicaError(
                    `data-parallel replica ${this.index} did not answer "${message.type}" within ${timeoutMs / 1000} s`,
                  ),
                ),
              timeoutMs,
            );
      const clear = () => clearTimeout(timer);
      this.pending = {
        resolve: (r) => (clear(), resolve(r as R)),
        reject: (e) => (clear(), reject(e)),
      };
    });
    this.worker.postMessage(message, transfer);
    return reply;
  }

  private settle(error: Error | undefined, reply?: Reply): void {
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
    this.settle(
      new ReplicaError(`data-parallel replica ${this.index} was closed during a request`),
    );
    await this.worker.terminate();
  }
}

/** Options of `ReplicaPool.start` and `DataParallel.start`. */
export interface ReplicaPoolOptions {
  /** Replicas including the training thread, 2 to MAX_REPLICAS. */
  readonly replicas: number;
  /** How long a worker may take to start its backend, or to build a model (default 120 s). */
  readonly startTimeoutMs?: number;
  /**
   * The ContainerModules the models need beyond moderoute's own (a plugin's routerModule): the
   * URL or absolute path of an ES module whose `containerModules` export is an array of them (or
   * a function returning one). Workers build models with `createContainer(...containerModules)`;
   * without it they know the built-in routers and blocks only.
   */
  readonly modules?: string | URL;
}

/**
 * The worker threads of data-parallel training: `replicas - 1` threads, each with its own
 * backend instance (the training thread's backend, one kernel thread). Attach a model to train
 * it data-parallel; a pool serves one attached model at a time and may serve many in turn (the
 * reproduction's runs, the bench's variants). Close it when done; idle, it does not keep the
 * process alive.
 */
export class ReplicaPool {
  private attached: DataParallel | undefined;
  private shared:
    | {
        weights: SharedArrayBuffer;
        replies: { grads: SharedArrayBuffer; state: SharedArrayBuffer }[];
      }
    | undefined;
  private closed = false;

  private constructor(
    private readonly threads: readonly ReplicaThread[],
    private readonly timeoutMs: number,
  ) {}

  static async start(options: ReplicaPoolOptions): Promise<ReplicaPool> {
    const { replicas } = options;
    if (!Number.isInteger(replicas) || replicas < 2 || replicas > MAX_REPLICAS)
      throw new ConfigError(
        'replicas',
        replicas,
        `an integer from 2 to ${MAX_REPLICAS} for data-parallel steps`,
      );
    const timeoutMs = options.startTimeoutMs ?? 120_000;
    const entry = workerEntry();
    const threads = Array.from(
      { length: replicas - 1 },
      (_, i) => new ReplicaThread(i + 1, new Worker(entry.file, { workerData: entry.workerData })),
    );
    const modules = options.modules === undefined ? undefined : pluginModuleUrl(options.modules);
    const started = await Promise.allSettled(
      threads.map((t) =>
        t.post<ReadyReply>(
          {
            type: 'init',
            replica: t.index,
            backend: tf.getBackend(),
            ...(modules ? { modules } : {}),
          },
          [],
          timeoutMs,
        ),
      ),
    );
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(threads.map((t) => t.close()));
      const reason =
        failed.reason instanceof Error
          ? failed.reason.message.replace(/ failed: /, ' could not start: ')
          : String(failed.reason);
      throw new ReplicaError(reason);
    }
    return new ReplicaPool(threads, timeoutMs);
  }

  /** Replicas, the training thread included. */
  get replicas(): number {
    return this.threads.length + 1;
  }

  /**
   * Builds copies of `model` on the workers (from its config, with the built-in modules) and
   * returns the DataParallel stepper of it. A model attached before is detached: its stepper
   * refuses further steps.
   */
  async attach(model: LanguageModel): Promise<DataParallel> {
    if (this.closed) throw new ReplicaError('this replica pool is closed');
    this.attached = undefined;
    const named = model.namedParameters();
    const variables = [...named].map(([name, v]) => ({
      name,
      shape: v.shape,
      trainable: v.trainable,
    }));
    const floats = (filter: (v: Variable) => boolean) =>
      [...named.values()].filter(filter).reduce((n, v) => n + v.size, 0);
    const shared = this.sharedBuffers(
      floats(() => true),
      floats((v) => v.trainable),
      floats((v) => !v.trainable),
    );
    await Promise.all(
      this.threads.map((t, i) =>
        t.post<ReadyReply>(
          {
            type: 'model',
            config: model.getConfig(),
            variables,
            weights: shared.weights,
            ...shared.replies[i]!,
          } satisfies ModelMessage,
          [],
          this.timeoutMs,
        ),
      ),
    );
    const stepper = new DataParallel(
      model,
      this,
      new Float32Array(
        shared.weights,
        0,
        floats(() => true),
      ),
      shared.replies.map((b) => ({
        grads: new Float32Array(b.grads),
        state: new Float32Array(b.state),
      })),
    );
    this.attached = stepper;
    return stepper;
  }

  /**
   * The shared buffers for a model of `weights` floats (`grads` of them trainable, `state` not):
   * kept from the last model when large enough, since shared memory is only freed once every
   * thread has let go of it.
   */
  private sharedBuffers(weights: number, grads: number, state: number) {
    const fits = (buffer: SharedArrayBuffer | undefined, floats: number) =>
      buffer !== undefined && buffer.byteLength >= 4 * floats;
    const kept = this.shared;
    if (
      kept &&
      fits(kept.weights, weights) &&
      kept.replies.every((r) => fits(r.grads, grads) && fits(r.state, state))
    )
      return kept;
    const grow = (buffer: SharedArrayBuffer | undefined, floats: number) =>
      fits(buffer, floats) ? buffer! : new SharedArrayBuffer(4 * floats);
    this.shared = {
      weights: grow(kept?.weights, weights),
      replies: this.threads.map((_, i) => ({
        grads: grow(kept?.replies[i]?.grads, grads),
        state: grow(kept?.replies[i]?.state, state),
      })),
    };
    return this.shared;
  }

  /** Whether `stepper` is the attached one. */
  isAttached(stepper: DataParallel): boolean {
    return this.attached === stepper && !this.closed;
  }

  /** The worker threads (for DataParallel). */
  workers(): readonly ReplicaThread[] {
    return this.threads;
  }

  /**
   * Plain 2-D matmul throughput of all replicas running at once, in GFLOP/s (the sum of each
   * replica's best, core's matmulPeakGflops, the training thread's included): the peak a
   * data-parallel step is measured against.
   */
  async matmulPeakGflops(reps = 30): Promise<number> {
    const others = this.threads.map((t) => t.post<PeakReply>({ type: 'peak', reps }));
    const own = matmulPeakGflops(reps);
    return own + (await Promise.all(others)).reduce((s, r) => s + r.gflops, 0);
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    this.closed = true;
    this.attached = undefined;
    await Promise.all(this.threads.map((t) => t.close()));
  }
}

/**
 * Data-parallel training steps of one model: its rows split among the training thread and the
 * workers of a ReplicaPool (see the top of this file). From `ReplicaPool.attach`, or from
 * `DataParallel.start`, which starts a pool of its own that `close` stops.
 */
export class DataParallel {
  private nextId = 0;
  private ownsPool = false;
  private readonly variables: readonly Variable[];
  private readonly stateVariables: readonly Variable[];

  /** Use ReplicaPool.attach or DataParallel.start. */
  constructor(
    private readonly model: LanguageModel,
    private readonly pool: ReplicaPool,
    /** Shared with every worker: the weights a step starts from. */
    private readonly weights: Float32Array,
    /** Per worker, shared with it: its gradients and untrained state after a step. */
    private readonly replies: readonly {
      readonly grads: Float32Array;
      readonly state: Float32Array;
    }[],
  ) {
    this.variables = [...model.namedParameters().values()];
    this.stateVariables = this.variables.filter((v) => !v.trainable);
  }

  /** Starts a pool of `replicas - 1` workers for `model` alone; `close` stops it. */
  static async start(model: LanguageModel, options: ReplicaPoolOptions): Promise<DataParallel> {
    const pool = await ReplicaPool.start(options);
    try {
      const stepper = await pool.attach(model);
      stepper.ownsPool = true;
      return stepper;
    } catch (error) {
      await pool.close();
      throw error;
    }
  }

  /** Replicas, the training thread's included. */
  get replicas(): number {
    return this.pool.replicas;
  }

  /**
   * The loss and gradients of one training step on `inputs` -> `targets` (int32 [B, T]),
   * computed by splitting the rows among the replicas and combining as described above, with the
   * model's current weights. The model's untrained state ends averaged over the replicas.
   */
  async step(inputs: Tensor2D, targets: Tensor2D): Promise<ShardGradients> {
    const model = this.model;
    if (!this.pool.isAttached(this))
      throw new ReplicaError(
        'this DataParallel is detached: its pool was closed or another model was attached',
      );
    const [batch, seqLen] = inputs.shape;
    const rows = shardRows(batch, this.replicas);
    const weights = rows.map((n) => n / batch);
    const inputHost = inputs.dataSync() as Int32Array;
    const targetHost = targets.dataSync() as Int32Array;
    packTensors(this.variables as Variable[], this.weights);
    // Replicas with no rows (a batch smaller than the pool) sit the step out.
    const replies: Promise<StepReply>[] = [];
    const answering: number[] = [];
    let start = rows[0]!;
    this.pool.workers().forEach((thread, i) => {
      const n = rows[i + 1]!;
      if (n > 0) {
        const message = {
          type: 'step' as const,
          id: this.nextId++,
          inputs: inputHost.slice(start * seqLen, (start + n) * seqLen),
          targets: targetHost.slice(start * seqLen, (start + n) * seqLen),
          rows: n,
          seqLen,
        };
        replies.push(
          thread.post<StepReply>(message, [message.inputs.buffer, message.targets.buffer]),
        );
        answering.push(i);
      }
      start += n;
    });
    // Meanwhile the training thread computes replica 0's rows.
    const own = tf.tidy(() => ({
      inputs: tf.slice(inputs, [0, 0], [rows[0]!, seqLen]) as Tensor2D,
      targets: tf.slice(targets, [0, 0], [rows[0]!, seqLen]) as Tensor2D,
    }));
    let local: ShardGradients;
    try {
      local = shardGradients(model, own.inputs, own.targets);
    } catch (error) {
      await Promise.allSettled(replies);
      throw error;
    } finally {
      tf.dispose([own.inputs, own.targets]);
    }
    // Every reply is waited for before a failure is rethrown: a replica still busy with this
    // step would refuse the next one ("is busy").
    const settled = await Promise.allSettled(replies);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      tf.dispose([...local.grads.values()]);
      throw failed.reason;
    }
    const others = settled.map((r) => (r as PromiseFulfilledResult<StepReply>).value);
    const w = [weights[0]!, ...weights.slice(1).filter((x) => x > 0)];
    const grads = this.combine(local.grads, others, answering, w);
    tf.dispose([...local.grads.values()]);
    if (this.stateVariables.length > 0) {
      const own = packTensors(this.stateVariables as Variable[]);
      const mean = own.map((x, k) =>
        others.reduce(
          (s, _, r) => s + w[r + 1]! * this.replies[answering[r]!]!.state[k]!,
          w[0]! * x,
        ),
      );
      assignPacked(this.stateVariables, mean);
    }
    const all = [
      local as { loss: number; lmLoss: number; auxLosses: Readonly<Record<string, number>> },
      ...others,
    ];
    const auxNames = Object.keys(local.auxLosses);
    return {
      loss: all.reduce((s, p, r) => s + w[r]! * p.loss, 0),
      lmLoss: all.reduce((s, p, r) => s + w[r]! * p.lmLoss, 0),
      auxLosses: Object.fromEntries(
        auxNames.map((k) => [k, all.reduce((s, p, r) => s + w[r]! * (p.auxLosses[k] ?? 0), 0)]),
      ),
      grads,
      routing: mergeRoutingSummaries([local.routing, ...others.map((o) => o.routing)], w),
    };
  }

  /**
   * g = sum_r w_r g_r as flat vectors, chunk by chunk (consecutive parameters of at most
   * COMBINE_CHUNK_FLOATS floats, a larger one alone): the training thread's gradients of a chunk
   * concatenated (zeros for parameters its rows did not reach), each worker's part of its buffer
   * uploaded whole (packed in the same order, zeros likewise), a weighted sum, one split. A few
   * kernels per chunk and replica, where a combine per parameter takes about 4 per parameter and
   * replica: at the bench config 2.0 against 2.3 ms a step with 2 replicas, 2.7 against 5.7 ms
   * with 4 and 5.5 against 11.3 ms with 8 (measured on 2 cores, after the replicas' rows). The
   * chunks keep the temporaries to a few chunks' size: one flat vector of every parameter held
   * 10-20 MB more peak RSS with 2 replicas. A parameter no replica reached gets no entry, as in a
   * one-replica step.
   */
  private combine(
    own: ReadonlyMap<string, Tensor>,
    others: readonly StepReply[],
    answering: readonly number[],
    w: readonly number[],
  ): Map<string, Tensor> {
    const params = [...this.model.trainableParameters()];
    const reached = params.map(
      ([name], k) => own.has(name) || others.some((reply) => reply.present[k]),
    );
    const grads = new Map<string, Tensor>();
    let start = 0;
    let offset = 0;
    while (start < params.length) {
      // The chunk [start, end) of the parameters, at `offset` floats into the packed buffers.
      let end = start + 1;
      let size = params[start]![1].size;
      while (end < params.length && size + params[end]![1].size <= COMBINE_CHUNK_FLOATS)
        size += params[end++]![1].size;
      const chunk = params.slice(start, end);
      if (reached.slice(start, end).some((x) => x)) {
        let sum = tf.tidy(() =>
          tf.mul(concatFlat(chunk.map(([name, v]) => own.get(name) ?? tf.zeros(v.shape))), w[0]!),
        );
        others.forEach((_, r) => {
          const next = tf.tidy(() =>
            tf.add(
              sum,
              tf.mul(
                tensorFromView(this.replies[answering[r]!]!.grads.subarray(offset, offset + size), [
                  size,
                ]),
                w[r + 1]!,
              ),
            ),
          );
          sum.dispose();
          sum = next;
        });
        const parts = splitFlat(
          sum,
          chunk.map(([, v]) => v.shape),
        );
        sum.dispose();
        chunk.forEach(([name], i) =>
          reached[start + i] ? grads.set(name, parts[i]!) : parts[i]!.dispose(),
        );
      }
      start = end;
      offset += size;
    }
    return grads;
  }

  /** Stops the pool if this stepper started it (DataParallel.start); a shared pool stays up. */
  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.close();
  }
}
