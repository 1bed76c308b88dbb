// AdamW for data-parallel steps, sharded among the replicas (ZeRO stage 1, Rajbhandari et al.
// 2020): the moments live in SharedArrayBuffers every replica sees, and each replica updates its
// own contiguous range of the parameters (hostUpdate.ts), reading every replica's gradients from
// their shared buffers, so the combine (g = sum_r share_r g_r), the global norm and the update
// are split among the cores instead of running on the training thread while the workers wait.
// DataParallel.trainStep runs it; this class holds its layout and state, and reads and writes
// that state as AdamW does (`m.<name>`, `v.<name>`, `step`), so checkpoints move freely between
// one replica and several.
import { tf, type Tensor, type Variable } from '@moderoute/core';
import type { HostTensor } from '../checkpoint/safetensors.js';
import type { AdamW } from '../optim/AdamW.js';
import { OPTIMIZER_STATE } from '../optim/AdamW.js';
import { ReplicaError } from './errors.js';
import { splitSlots, type HostSlot } from '../optim/hostUpdate.js';

/** AdamW's constants a replica needs for its share of an update. */
export interface ShardedAdamWConstants {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly clipNorm: number;
}

export class ShardedAdamW {
  readonly className = 'AdamW';
  /** One per trainable parameter, in the model's order: its block in the weights and the flat gradients. */
  readonly slots: readonly HostSlot[];
  /** float32 first and second moments, flat (HostSlot.g offsets), shared with the workers. */
  readonly m: Float32Array<SharedArrayBuffer>;
  readonly v: Float32Array<SharedArrayBuffer>;
  /** replicas + 1 slot boundaries: replica r updates slots [bounds[r], bounds[r + 1]). */
  readonly bounds: readonly number[];
  readonly constants: ShardedAdamWConstants;
  private t: number;

  /**
   * Takes over `optimizer`'s configuration, decay rule and state (its moments and step count) for
   * `params` (the trainable variables in the model's order; `weightOffset` gives each one's block
   * in the shared weights). `optimizer` itself is left as it was.
   */
  constructor(
    private readonly optimizer: AdamW,
    private readonly params: ReadonlyMap<string, Variable>,
    weightOffset: ReadonlyMap<string, number>,
    replicas: number,
    /** float32 buffers of at least the parameters' total size for m and v (the pool's, reused across models). */
    buffers: { readonly m: SharedArrayBuffer; readonly v: SharedArrayBuffer },
    /** Whether this is still its DataParallel's optimizer, of an attached model (the buffers are reused after). */
    private readonly live: () => boolean,
  ) {
    const { beta1, beta2, epsilon, weightDecay, clipNorm } = optimizer.getConfig();
    this.constants = { beta1, beta2, epsilon, weightDecay, clipNorm };
    let offset = 0;
    this.slots = [...params].map(([name, p]) => {
      const slot = { size: p.size, p: weightOffset.get(name)!, g: offset, decay: optimizer.decaysParameter(name) ? weightDecay : 0 };
      offset += p.size;
      return slot;
    });
    this.m = new Float32Array(buffers.m, 0, offset);
    this.v = new Float32Array(buffers.v, 0, offset);
    this.bounds = splitSlots(this.slots, replicas);
    this.t = 0;
    this.loadFrom(optimizer);
  }

  /** The number of updates applied so far (t). */
  get step(): number {
    return this.t;
  }

  /** Records an applied update (DataParallel.trainStep). */
  advance(t: number): void {
    this.t = t;
  }

  getConfig(): ShardedAdamWConstants {
    return this.constants;
  }

  /** The state as AdamW.getState gives it: `step`, then `m.<name>` and `v.<name>` per parameter. */
  getState(): Map<string, Tensor> {
    this.requireLive();
    const out = new Map<string, Tensor>();
    out.set(OPTIMIZER_STATE.step, tf.scalar(this.t, 'int32'));
    [...this.params].forEach(([name, p], i) => {
      const { g, size } = this.slots[i]!;
      out.set(OPTIMIZER_STATE.m + name, tf.tensor(this.m.slice(g, g + size), p.shape, 'float32'));
      out.set(OPTIMIZER_STATE.v + name, tf.tensor(this.v.slice(g, g + size), p.shape, 'float32'));
    });
    return out;
  }

  /**
   * Restores a state written by getState (or AdamW.getState). It is checked as AdamW checks it,
   * so a mismatched state changes nothing; `file` names the source in errors.
   */
  setState(state: ReadonlyMap<string, Tensor | HostTensor>, file = 'optimizer state'): void {
    this.requireLive();
    this.optimizer.setState(state, file);
    this.loadFrom(this.optimizer);
  }

  private requireLive(): void {
    if (!this.live()) throw new ReplicaError('this ShardedAdamW is no longer in use: its model was detached from the pool, or another optimizer was sharded for it');
  }

  private loadFrom(optimizer: AdamW): void {
    const state = optimizer.getState();
    try {
      [...this.params.keys()].forEach((name, i) => {
        const { g } = this.slots[i]!;
        this.m.set(state.get(OPTIMIZER_STATE.m + name)!.dataSync() as Float32Array, g);
        this.v.set(state.get(OPTIMIZER_STATE.v + name)!.dataSync() as Float32Array, g);
      });
      this.t = state.get(OPTIMIZER_STATE.step)!.dataSync()[0] as number;
    } finally {
      tf.dispose([...state.values()]);
    }
  }
}
