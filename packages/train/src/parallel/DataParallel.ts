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
//   2. every replica computes its rows' loss L_r and gradients g_r (shardStep.ts), with its
//      routing randomness keyed by (seed, step, replica), and its routers' statistics;
//   3. the step's loss is L = sum_r (n_r / B) L_r and its gradient g = sum_r (n_r / B) g_r, for
//      n_r rows of B; the statistics come back as they are, in replica order, for the training
//      step to fold (Router.foldStatistics): sums and counts, so no averaging rule is needed.
// For losses that are means over a batch's sequences (next-token loss, the MoD router's BCE) and
// routing decided per sequence (MoD's top-k, Raposo et al. 2024 eq. 1), L equals the one-replica
// loss of the whole batch, so the gradient is the same up to float rounding. Routing decided
// across the batch (MoE capacity, load-balancing losses) is decided per replica's rows, as expert
// capacity is per device in GShard and Switch Transformers (docs/architecture.md).
// The optimizer, the routers' state, checkpoints and evaluation stay on the training thread.
// Axis legend: B batch, T tokens per sequence.
import { tf, withOwnKernels, type Tensor2D, type Variable } from '@moderoute/core';
import type { LanguageModel } from '@moderoute/model';
import { combineGradients } from './combineGradients.js';
import { packTensors, type ReplicaTiming, type StepReply } from './protocol.js';
import { ReplicaError } from './replicaThread.js';
import { ReplicaPool, type ReplicaPoolOptions } from './ReplicaPool.js';
import { mergeRoutingSummaries, shardGradients, type ShardGradients } from './shardStep.js';

export { ReplicaError } from './replicaThread.js';
export type { ReplicaTiming } from './protocol.js';
export {
  MAX_REPLICAS,
  ReplicaPool,
  type AttachOptions,
  type ReplicaPoolOptions,
} from './ReplicaPool.js';

/**
 * Where the last data-parallel step's time went, in ms: on the training thread, its phases in
 * order (they add up to the step's wall time but for bookkeeping), and each answering worker's
 * own account of its part (ReplicaTiming, on its clock; while the training thread computes).
 */
export interface StepTiming {
  /** Packing every variable's value into the shared buffer and posting the step. */
  readonly postMs: number;
  /** The training thread's own rows (replica 0's loss and gradients). */
  readonly computeMs: number;
  /** Waiting for the workers' replies after that: the slowest worker's lag. */
  readonly waitMs: number;
  /** Combining the replicas' gradients (combineGradients). */
  readonly combineMs: number;
  /** Each answering worker's load, compute and pack, in worker order. */
  readonly workers: readonly ReplicaTiming[];
}

/** Rows of a batch of `batch` per replica: as even as possible, the first replicas one more. */
export function shardRows(batch: number, replicas: number): number[] {
  const base = Math.floor(batch / replicas);
  const extra = batch % replicas;
  return Array.from({ length: replicas }, (_, r) => base + (r < extra ? 1 : 0));
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
  private timing: StepTiming | undefined;

  /** Use ReplicaPool.attach or DataParallel.start. */
  constructor(
    private readonly model: LanguageModel,
    private readonly pool: ReplicaPool,
    /** The model's slot on the workers. */
    private readonly slot: number,
    /** Shared with every worker: the weights a step starts from. */
    private readonly weights: Float32Array,
    /** Per worker, shared with it: its gradients after a step. */
    private readonly grads: readonly Float32Array[],
    /** Core's own kernels on or off for every replica's part of a step (AttachOptions.ownKernels). */
    private readonly ownKernels?: boolean,
  ) {
    this.variables = [...model.namedParameters().values()];
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

  /** Where the last completed step's time went (undefined before the first). */
  get lastTiming(): StepTiming | undefined {
    return this.timing;
  }

  /** Replicas, the training thread's included. */
  get replicas(): number {
    return this.pool.replicas;
  }

  /**
   * The loss and gradients of one training step on `inputs` -> `targets` (int32 [B, T]),
   * computed by splitting the rows among the replicas and combining as described above, with the
   * model's current weights, and every answering replica's router statistics in replica order.
   * `key` (step and run seed) keys the routing randomness with each replica's index. Changes no
   * state of the model.
   */
  async step(
    inputs: Tensor2D,
    targets: Tensor2D,
    key?: { readonly step: number; readonly seed: number },
  ): Promise<ShardGradients> {
    const model = this.model;
    if (!this.pool.isAttached(this))
      throw new ReplicaError(
        'this DataParallel is detached: its pool was closed or another model was attached',
      );
    const begun = performance.now();
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
          slot: this.slot,
          inputs: inputHost.slice(start * seqLen, (start + n) * seqLen),
          targets: targetHost.slice(start * seqLen, (start + n) * seqLen),
          rows: n,
          seqLen,
          ...key,
        };
        replies.push(
          thread.post<StepReply>(message, [message.inputs.buffer, message.targets.buffer]),
        );
        answering.push(i);
      }
      start += n;
    });
    // Meanwhile the training thread computes replica 0's rows.
    const posted = performance.now();
    const own = tf.tidy(() => ({
      inputs: tf.slice(inputs, [0, 0], [rows[0]!, seqLen]) as Tensor2D,
      targets: tf.slice(targets, [0, 0], [rows[0]!, seqLen]) as Tensor2D,
    }));
    let local: ShardGradients;
    try {
      // The workers set the switch for this model's steps themselves (ModelMessage.ownKernels).
      local = withOwnKernels(this.ownKernels, () =>
        shardGradients(
          model,
          own.inputs,
          own.targets,
          key === undefined ? undefined : { ...key, replica: 0 },
        ),
      );
    } catch (error) {
      await Promise.allSettled(replies);
      throw error;
    } finally {
      tf.dispose([own.inputs, own.targets]);
    }
    const computed = performance.now();
    // Every reply is waited for before a failure is rethrown: a replica still busy with this
    // step would refuse the next one ("is busy").
    const settled = await Promise.allSettled(replies);
    const answered = performance.now();
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      tf.dispose([...local.grads.values()]);
      throw failed.reason;
    }
    const others = settled.map((r) => (r as PromiseFulfilledResult<StepReply>).value);
    const w = [weights[0]!, ...weights.slice(1).filter((x) => x > 0)];
    const grads = combineGradients(
      [...this.model.trainableParameters()],
      local.grads,
      others.map((reply, r) => ({ grads: this.grads[answering[r]!]!, present: reply.present })),
      w,
    );
    tf.dispose([...local.grads.values()]);
    this.timing = {
      postMs: posted - begun,
      computeMs: computed - posted,
      waitMs: answered - computed,
      combineMs: performance.now() - answered,
      workers: others.map((o) => o.timing),
    };
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
      routing: mergeRoutingSummaries([local.routing, ...others.map((o) => o.routing)]),
      statistics: [...local.statistics, ...others.map((o) => o.statistics)],
    };
  }

  /** Stops the pool if this stepper started it (DataParallel.start); a shared pool stays up. */
  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.close();
  }
}

/**
 * The data-parallel stepper a run asks for (TrainOptions.replicas): a given pool attached to
 * `model`, a pool of its own for more than one replica, or none (the training thread alone).
 */
export async function startReplicas(
  model: LanguageModel,
  options: { readonly replicas?: number | ReplicaPool; readonly replicaModules?: string | URL },
  replicas: number,
): Promise<DataParallel | undefined> {
  if (options.replicas instanceof ReplicaPool) return options.replicas.attach(model);
  if (replicas <= 1) return undefined;
  const modules = options.replicaModules;
  return DataParallel.start(model, { replicas, ...(modules !== undefined ? { modules } : {}) });
}
