// Data-parallel training steps across worker threads (issue 7). The wasm backend's own threads
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
// device in GShard and Switch Transformers (docs/training.md).
// trainStep also shards the AdamW update (ShardedAdamW.ts): every replica combines and updates
// its own range of the parameters, in shared memory. Checkpoints and evaluation stay on the
// training thread.
// Axis legend: B batch, T tokens per sequence.
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ConfigError, matmulPeakGflops, tensorFromView, tf, type Tensor, type Tensor2D, type Variable } from '@moderoute/core';
import type { LanguageModel } from '@moderoute/model';
import { combinedSumOfSquares, hostAdamWUpdate, type GradientSource } from '../optim/hostUpdate.js';
import type { AdamW } from '../optim/AdamW.js';
import { assignPacked, packGradients, packTensors, type FromReplica, type ModelMessage, type OptimizerMessage, type PeakReply, type ReadyReply, type StepReply, type StepSources, type SumReply, type ToReplica } from './protocol.js';
import { ReplicaError } from './errors.js';
import { ShardedAdamW } from './ShardedAdamW.js';
import { mergeRoutingSummaries, shardGradients, type ShardGradients } from './shardStep.js';

/** Most replicas a run may ask for. */
export const MAX_REPLICAS = 16;

export { ReplicaError } from './errors.js';

/** Rows of a batch of `batch` per replica: as even as possible, the first replicas one more. */
export function shardRows(batch: number, replicas: number): number[] {
  const base = Math.floor(batch / replicas);
  const extra = batch % replicas;
  return Array.from({ length: replicas }, (_, r) => base + (r < extra ? 1 : 0));
}

/** `modules` as a file URL string: URLs as given, absolute paths converted; anything else is refused. */
function moduleUrl(modules: string | URL): string {
  if (modules instanceof URL) return modules.href;
  if (isAbsolute(modules)) return pathToFileURL(modules).href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(modules)) return modules;
  throw new ConfigError('modules', modules, 'the URL or absolute path of an ES module exporting containerModules (a relative path would resolve inside the worker)');
}

/** How a worker thread starts the replica entry: built .js directly, sources through tsx. */
function workerEntry(): { file: URL; workerData: Record<string, unknown> } {
  const here = import.meta.url;
  if (/\.[cm]?ts$/.test(new URL(here).pathname)) {
    return { file: new URL('./tsxWorkerBoot.mjs', here), workerData: { entry: new URL('./replicaWorker.ts', here).href } };
  }
  return { file: new URL('./replicaWorker.js', here), workerData: {} };
}

type Reply = ReadyReply | StepReply | PeakReply | SumReply;

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
      if (message.type === 'error') this.settle(new ReplicaError(`data-parallel replica ${index} failed: ${message.message}`));
      else this.settle(undefined, message);
    });
    worker.on('error', (error) => this.fail(new ReplicaError(`data-parallel replica ${index} failed: ${error.message}`)));
    worker.on('exit', (code) => {
      if (!this.closing) this.fail(new ReplicaError(`data-parallel replica ${index} stopped unexpectedly (exit code ${code})`));
    });
    // Idle replicas do not keep the process alive; a request in flight does (ref in post).
    worker.unref();
  }

  /** Sends one request and resolves with its reply; rejects on an error reply or a dead thread. */
  post<R extends Reply>(message: ToReplica, transfer: ArrayBuffer[] = [], timeoutMs?: number): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new ReplicaError(`data-parallel replica ${this.index} is busy: one request at a time`));
    this.worker.ref();
    const reply = new Promise<R>((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => this.settle(new ReplicaError(`data-parallel replica ${this.index} did not answer "${message.type}" within ${timeoutMs / 1000} s`)), timeoutMs);
      const clear = () => clearTimeout(timer);
      this.pending = { resolve: (r) => (clear(), resolve(r as R)), reject: (e) => (clear(), reject(e)) };
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
    this.settle(new ReplicaError(`data-parallel replica ${this.index} was closed during a request`));
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
  private shared: { weights: SharedArrayBuffer; own: SharedArrayBuffer; replies: { grads: SharedArrayBuffer; state: SharedArrayBuffer }[] } | undefined;
  private moments: { m: SharedArrayBuffer; v: SharedArrayBuffer } | undefined;
  private closed = false;

  private constructor(
    private readonly threads: readonly ReplicaThread[],
    private readonly timeoutMs: number,
  ) {}

  static async start(options: ReplicaPoolOptions): Promise<ReplicaPool> {
    const { replicas } = options;
    if (!Number.isInteger(replicas) || replicas < 2 || replicas > MAX_REPLICAS) throw new ConfigError('replicas', replicas, `an integer from 2 to ${MAX_REPLICAS} for data-parallel steps`);
    const timeoutMs = options.startTimeoutMs ?? 120_000;
    const entry = workerEntry();
    const threads = Array.from({ length: replicas - 1 }, (_, i) => new ReplicaThread(i + 1, new Worker(entry.file, { workerData: entry.workerData })));
    const modules = options.modules === undefined ? undefined : moduleUrl(options.modules);
    const started = await Promise.allSettled(threads.map((t) => t.post<ReadyReply>({ type: 'init', replica: t.index, backend: tf.getBackend(), ...(modules ? { modules } : {}) }, [], timeoutMs)));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(threads.map((t) => t.close()));
      const reason = failed.reason instanceof Error ? failed.reason.message.replace(/ failed: /, ' could not start: ') : String(failed.reason);
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
    const variables = [...named].map(([name, v]) => ({ name, shape: v.shape, trainable: v.trainable }));
    const floats = (filter: (v: Variable) => boolean) => [...named.values()].filter(filter).reduce((n, v) => n + v.size, 0);
    const shared = this.sharedBuffers(floats(() => true), floats((v) => v.trainable), floats((v) => !v.trainable));
    await Promise.all(this.threads.map((t, i) => t.post<ReadyReply>({ type: 'model', config: model.getConfig(), variables, weights: shared.weights, ...shared.replies[i]! } satisfies ModelMessage, [], this.timeoutMs)));
    const stepper = new DataParallel(model, this, shared);
    this.attached = stepper;
    return stepper;
  }

  /**
   * The shared buffers for a model of `weights` floats (`grads` of them trainable, `state` not):
   * kept from the last model when large enough, since shared memory is only freed once every
   * thread has let go of it.
   */
  private sharedBuffers(weights: number, grads: number, state: number) {
    const fits = (buffer: SharedArrayBuffer | undefined, floats: number) => buffer !== undefined && buffer.byteLength >= 4 * floats;
    const kept = this.shared;
    if (kept && fits(kept.weights, weights) && fits(kept.own, grads) && kept.replies.every((r) => fits(r.grads, grads) && fits(r.state, state))) return kept;
    const grow = (buffer: SharedArrayBuffer | undefined, floats: number) => (fits(buffer, floats) ? buffer! : new SharedArrayBuffer(4 * floats));
    this.shared = {
      weights: grow(kept?.weights, weights),
      own: grow(kept?.own, grads),
      replies: this.threads.map((_, i) => ({ grads: grow(kept?.replies[i]?.grads, grads), state: grow(kept?.replies[i]?.state, state) })),
    };
    return this.shared;
  }

  /** Shared buffers for a sharded optimizer's moments of `floats` parameters, kept across models as the others. */
  optimizerBuffers(floats: number): { m: SharedArrayBuffer; v: SharedArrayBuffer } {
    if (this.moments === undefined || this.moments.m.byteLength < 4 * floats) this.moments = { m: new SharedArrayBuffer(4 * floats), v: new SharedArrayBuffer(4 * floats) };
    return this.moments;
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
  private readonly trainable: readonly (readonly [string, Variable])[];
  private readonly trainableSizes: readonly number[];
  /** Shared with every worker: the weights a step starts from (the sharded update writes them). */
  private readonly weights: Float32Array;
  /** The training thread's gradients after a step (for the sharded update), shared likewise. */
  private readonly ownGrads: Float32Array;
  /** Per worker, shared with it: its gradients and untrained state after a step. */
  private readonly replies: readonly { readonly grads: Float32Array; readonly state: Float32Array }[];
  private optimizer: ShardedAdamW | undefined;

  /** Use ReplicaPool.attach or DataParallel.start. */
  constructor(
    private readonly model: LanguageModel,
    private readonly pool: ReplicaPool,
    private readonly shared: { readonly weights: SharedArrayBuffer; readonly own: SharedArrayBuffer; readonly replies: readonly { readonly grads: SharedArrayBuffer; readonly state: SharedArrayBuffer }[] },
  ) {
    this.variables = [...model.namedParameters().values()];
    this.stateVariables = this.variables.filter((v) => !v.trainable);
    this.trainable = [...model.trainableParameters()];
    this.trainableSizes = this.trainable.map(([, v]) => v.size);
    this.weights = new Float32Array(shared.weights, 0, this.variables.reduce((n, v) => n + v.size, 0));
    this.ownGrads = new Float32Array(shared.own);
    this.replies = shared.replies.map((b) => ({ grads: new Float32Array(b.grads), state: new Float32Array(b.state) }));
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
    const { local, others, answering, w, values } = await this.runShards(inputs, targets);
    // Replies pack every gradient in the model's parameter order, zeros where their rows did not
    // reach a parameter; one no replica reaches gets no entry.
    const grads = new Map<string, Tensor>();
    let offset = 0;
    this.trainable.forEach(([name, v], k) => {
      const parts: { g: Tensor | Float32Array; w: number }[] = [];
      const own = local.grads.get(name);
      if (own) parts.push({ g: own, w: w[0]! });
      others.forEach((reply, r) => {
        if (reply.present[k]) parts.push({ g: this.replies[answering[r]!]!.grads.subarray(offset, offset + v.size), w: w[r + 1]! });
      });
      offset += v.size;
      if (parts.length > 0) grads.set(name, tf.tidy(() => parts.map(({ g, w: share }) => tf.mul(g instanceof Float32Array ? tensorFromView(g, v.shape) : g, share)).reduce((x, y) => tf.add(x, y))));
    });
    tf.dispose([...local.grads.values()]);
    return { ...values, grads };
  }

  /**
   * Takes over `optimizer` (its configuration, decay rule, moments and step count) for sharded
   * updates of this model with trainStep; the returned ShardedAdamW holds the optimizer's state
   * from then on (getState and setState for checkpoints). `optimizer` itself is left as it was.
   */
  async shardOptimizer(optimizer: AdamW): Promise<ShardedAdamW> {
    if (!this.pool.isAttached(this)) throw new ReplicaError('this DataParallel is detached: its pool was closed or another model was attached');
    const offsets = new Map<string, number>();
    let offset = 0;
    for (const [name, v] of this.model.namedParameters()) {
      offsets.set(name, offset);
      offset += v.size;
    }
    const params = new Map(this.trainable);
    const total = this.trainableSizes.reduce((n, x) => n + x, 0);
    const sharded: ShardedAdamW = new ShardedAdamW(optimizer, params, offsets, this.replicas, this.pool.optimizerBuffers(total), () => this.optimizer === sharded && this.pool.isAttached(this));
    const { beta1, beta2, epsilon } = sharded.constants;
    const grads = [this.shared.own, ...this.shared.replies.map((r) => r.grads)];
    await Promise.all(
      this.pool.workers().map((thread, i) =>
        thread.post<ReadyReply>({ type: 'optimizer', slots: sharded.slots, from: sharded.bounds[i + 1]!, to: sharded.bounds[i + 2]!, grads, m: sharded.m.buffer, v: sharded.v.buffer, beta1, beta2, epsilon } satisfies OptimizerMessage),
      ),
    );
    this.optimizer = sharded;
    return sharded;
  }

  /**
   * One whole training step: the loss and gradients as `step` computes them, then the AdamW
   * update of `optimizer` (from shardOptimizer) at learning rate `lr`, sharded: every replica
   * combines the gradients of its own range of parameters straight from the replicas' shared
   * buffers, the global norm is the sum of the ranges' squared norms, and each replica updates
   * its range of the weights and moments in shared memory (hostUpdate.ts), as AdamW.apply would
   * (clipping, decoupled decay, parameters no replica reached left alone). The training thread's
   * variables then take the new weights; the workers take them as their next step starts. When
   * the loss or the gradient norm is not finite, nothing is updated (`applied` false).
   */
  async trainStep(inputs: Tensor2D, targets: Tensor2D, optimizer: ShardedAdamW, lr: number): Promise<TrainStepResult> {
    if (optimizer !== this.optimizer) throw new ReplicaError('trainStep needs the ShardedAdamW this DataParallel made (shardOptimizer)');
    const { local, others, answering, w, values } = await this.runShards(inputs, targets);
    try {
      packGradients(this.trainable.map(([name]) => name), this.trainableSizes, local.grads, this.ownGrads);
    } finally {
      tf.dispose([...local.grads.values()]);
    }
    const present = this.trainable.map(([name], k) => local.grads.has(name) || others.some((reply) => reply.present[k]));
    const sources: StepSources = { sources: [{ replica: 0, share: w[0]! }, ...answering.map((i, r) => ({ replica: i + 1, share: w[r + 1]! }))], present };
    const own: GradientSource[] = sources.sources.map(({ replica, share }) => ({ data: replica === 0 ? this.ownGrads : this.replies[replica - 1]!.grads, share }));
    const [from, to] = [optimizer.bounds[0]!, optimizer.bounds[1]!];
    const workers = this.pool.workers();
    const skipped = (gradNorm: number): TrainStepResult => ({ ...values, gradNorm, applied: false, step: optimizer.step });
    if (!Number.isFinite(values.loss)) return skipped(Number.NaN);
    // ||G||^2, each replica over its range; AdamW.ts's clipping and update from there.
    const sums = workers.map((thread) => thread.post<SumReply>({ type: 'norm', ...sources }));
    const ownSum = combinedSumOfSquares(optimizer.slots, present, own, from, to);
    const gradNorm = Math.sqrt((await Promise.all(sums)).reduce((total, r) => total + r.value, ownSum));
    if (!Number.isFinite(gradNorm)) return skipped(gradNorm);
    const { clipNorm, beta1, beta2, epsilon } = optimizer.constants;
    const scale = clipNorm > 0 ? Math.min(1, clipNorm / (gradNorm + 1e-6)) : 1;
    const t = optimizer.step + 1;
    const done = workers.map((thread) => thread.post<ReadyReply>({ type: 'update', ...sources, lr, scale, t }));
    hostAdamWUpdate(optimizer.slots, present, own, this.weights, optimizer.m, optimizer.v, { beta1, beta2, epsilon, lr, scale, t }, from, to);
    await Promise.all(done);
    optimizer.advance(t);
    this.trainable.forEach(([, v], k) => {
      const { p, size } = optimizer.slots[k]!;
      if (present[k]) tf.tidy(() => v.assign(tensorFromView(this.weights.subarray(p, p + size), v.shape)));
    });
    return { ...values, gradNorm, applied: true, step: t };
  }

  /**
   * Sends each worker its rows, computes the training thread's, and combines what is not a
   * gradient: losses, routing summaries, and the untrained state (averaged into the model).
   */
  private async runShards(inputs: Tensor2D, targets: Tensor2D) {
    const model = this.model;
    if (!this.pool.isAttached(this)) throw new ReplicaError('this DataParallel is detached: its pool was closed or another model was attached');
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
        replies.push(thread.post<StepReply>(message, [message.inputs.buffer, message.targets.buffer]));
        answering.push(i);
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
    if (this.stateVariables.length > 0) {
      const mine = packTensors(this.stateVariables as Variable[]);
      const mean = mine.map((x, k) => others.reduce((s, _, r) => s + w[r + 1]! * this.replies[answering[r]!]!.state[k]!, w[0]! * x));
      assignPacked(this.stateVariables, mean);
    }
    const all = [local as { loss: number; lmLoss: number; auxLosses: Readonly<Record<string, number>> }, ...others];
    const auxNames = Object.keys(local.auxLosses);
    const values = {
      loss: all.reduce((s, p, r) => s + w[r]! * p.loss, 0),
      lmLoss: all.reduce((s, p, r) => s + w[r]! * p.lmLoss, 0),
      auxLosses: Object.fromEntries(auxNames.map((k) => [k, all.reduce((s, p, r) => s + w[r]! * (p.auxLosses[k] ?? 0), 0)])),
      routing: mergeRoutingSummaries([local.routing, ...others.map((o) => o.routing)], w),
    };
    return { local, others, answering, w, values };
  }

  /** Stops the pool if this stepper started it (DataParallel.start); a shared pool stays up. */
  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.close();
  }
}

/** What DataParallel.trainStep did: the step's losses and routing, and the update's outcome. */
export interface TrainStepResult extends Omit<ShardGradients, 'grads'> {
  /** Global L2 norm of the combined gradients before clipping (NaN when the loss was not finite). */
  readonly gradNorm: number;
  /** False when the loss or the gradient norm was not finite: then nothing was changed. */
  readonly applied: boolean;
  /** The optimizer's update count after this step. */
  readonly step: number;
}
