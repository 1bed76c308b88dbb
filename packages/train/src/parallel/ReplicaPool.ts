// The worker threads of data-parallel training (DataParallel.ts), kept across the models they
// serve in turn: started once, each with its own backend instance on one kernel thread.
import { Worker } from 'node:worker_threads';
import {
  ConfigError,
  matmulPeakGflops,
  tf,
  type PeakProduct,
  type Variable,
} from '@moderoute/core';
import type { LanguageModel } from '@moderoute/model';
import { DataParallel } from './DataParallel.js';
import type { ModelMessage, PeakReply, ReadyReply } from './protocol.js';
import { pluginModuleUrl } from '../plugins.js';
import { ReplicaError, ReplicaThread, workerEntry } from './replicaThread.js';

/** Most replicas a run may ask for. */
export const MAX_REPLICAS = 16;

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

/** Options of `ReplicaPool.attach`. */
export interface AttachOptions {
  /**
   * Keep the models attached before (default false: they are detached); the steppers may then
   * step in any order.
   */
  readonly alongside?: boolean;
  /**
   * Core's own wasm kernels on or off for every replica's part of this model's steps, the
   * training thread's included (core's `setOwnKernels` is a switch per thread: a worker does not
   * see the training thread's). Default: each thread's own setting (on, unless
   * MODEROUTE_OWN_KERNELS=0). The bench compares the two in one run with it.
   */
  readonly ownKernels?: boolean;
}

/**
 * The worker threads of data-parallel training: `replicas - 1` threads, each with its own
 * backend instance (the training thread's backend, one kernel thread). Attach a model to train
 * it data-parallel; a pool serves one attached model at a time and may serve many in turn (the
 * reproduction's runs, the bench's variants). Close it when done; idle, it does not keep the
 * process alive.
 */
export class ReplicaPool {
  /** The attached steppers and their slots on the workers. */
  private readonly attached = new Map<DataParallel, number>();
  /** Shared buffers by slot, kept across the models a slot serves in turn. */
  private readonly shared = new Map<
    number,
    { weights: SharedArrayBuffer; grads: SharedArrayBuffer[] }
  >();
  private closed = false;

  private constructor(
    private readonly threads: readonly ReplicaThread[],
    private readonly timeoutMs: number,
  ) {}

  /**
   * Starts `replicas - 1` worker threads, each with its own single-thread backend, and waits until
   * all are ready.
   */
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
   * returns the DataParallel stepper of it. Models attached before are detached (their steppers
   * refuse further steps), unless `alongside`: then they stay attached and the steppers may step
   * in any order (the bench interleaves its variants step by step); `detach` frees one.
   * `ownKernels` switches core's own kernels for this model's steps (AttachOptions).
   */
  async attach(model: LanguageModel, options: AttachOptions = {}): Promise<DataParallel> {
    if (this.closed) throw new ReplicaError('this replica pool is closed');
    const alongside = options.alongside === true;
    if (!alongside) this.attached.clear();
    const taken = new Set(this.attached.values());
    let slot = 0;
    while (taken.has(slot)) slot += 1;
    const named = model.namedParameters();
    const variables = [...named].map(([name, v]) => ({
      name,
      shape: v.shape,
      trainable: v.trainable,
    }));
    const floats = (filter: (v: Variable) => boolean) =>
      [...named.values()].filter(filter).reduce((n, v) => n + v.size, 0);
    const shared = this.sharedBuffers(
      slot,
      floats(() => true),
      floats((v) => v.trainable),
    );
    await Promise.all(
      this.threads.map((t, i) =>
        t.post<ReadyReply>(
          {
            type: 'model',
            slot,
            alongside,
            config: model.getConfig(),
            variables,
            weights: shared.weights,
            grads: shared.grads[i]!,
            ...(options.ownKernels !== undefined ? { ownKernels: options.ownKernels } : {}),
          } satisfies ModelMessage,
          [],
          this.timeoutMs,
        ),
      ),
    );
    const stepper = new DataParallel(
      model,
      this,
      slot,
      new Float32Array(
        shared.weights,
        0,
        floats(() => true),
      ),
      shared.grads.map((b) => new Float32Array(b)),
      options.ownKernels,
    );
    this.attached.set(stepper, slot);
    return stepper;
  }

  /** Detaches `stepper` and drops its model on the workers (its shared buffers are kept). */
  async detach(stepper: DataParallel): Promise<void> {
    const slot = this.attached.get(stepper);
    if (slot === undefined || this.closed) return;
    this.attached.delete(stepper);
    await Promise.all(
      this.threads.map((t) => t.post<ReadyReply>({ type: 'drop', slot }, [], this.timeoutMs)),
    );
  }

  /**
   * The shared buffers of `slot` for a model of `weights` floats (`grads` of them trainable):
   * kept from the slot's last model when large enough, since shared memory is only freed once
   * every thread has let go of it.
   */
  private sharedBuffers(slot: number, weights: number, grads: number) {
    const grow = (buffer: SharedArrayBuffer | undefined, floats: number) =>
      buffer !== undefined && buffer.byteLength >= 4 * floats
        ? buffer
        : new SharedArrayBuffer(4 * floats);
    const kept = this.shared.get(slot);
    const buffers = {
      weights: grow(kept?.weights, weights),
      grads: this.threads.map((_, i) => grow(kept?.grads[i], grads)),
    };
    this.shared.set(slot, buffers);
    return buffers;
  }

  /** Whether `stepper` is attached. */
  isAttached(stepper: DataParallel): boolean {
    return this.attached.has(stepper) && !this.closed;
  }

  /** The worker threads (for DataParallel). */
  workers(): readonly ReplicaThread[] {
    return this.threads;
  }

  /**
   * Plain 2-D matmul throughput of all replicas running at once, in GFLOP/s (the sum of each
   * replica's best, core's matmulPeakGflops, the training thread's included): the peak a
   * data-parallel step is measured against. `product` as matmulPeakGflops' (NaN where core's
   * own product does not serve).
   */
  async matmulPeakGflops(reps = 30, product: PeakProduct = 'tfjs'): Promise<number> {
    const others = this.threads.map((t) => t.post<PeakReply>({ type: 'peak', reps, product }));
    const own = matmulPeakGflops(reps, product);
    return own + (await Promise.all(others)).reduce((s, r) => s + r.gflops, 0);
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    this.closed = true;
    this.attached.clear();
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
