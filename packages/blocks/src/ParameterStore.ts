// Named, seeded parameters. Every trainable tensor of a model lives in one store under a stable
// dotted name ("blocks.3.attn.wQkv"); checkpoints are keyed by these names. Initial values depend
// only on (seed, name, shape), never on creation order, so adding a parameter does not change
// the others.
import {
  ConfigError,
  PARAMETER_SEED_MULTIPLIER,
  tf,
  type Tensor,
  type Variable,
} from '@moderoute/core';
import type { ParameterScope } from '@moderoute/routing';

/** How a parameter starts: N(0, std^2), or a constant. */
export type Initializer =
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'zeros' }
  | { readonly kind: 'ones' };

/** Initializer: N(0, std^2), drawn from the store's seed and the parameter's name and shape. */
export const normal = (std: number): Initializer => ({ kind: 'normal', std });
/** Initializer: all zeros. */
export const zeros: Initializer = { kind: 'zeros' };
/** Initializer: all ones. */
export const ones: Initializer = { kind: 'ones' };

/** 32-bit FNV-1a of a string: the per-parameter seed offset. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The most scalar parameters one store (one model) may hold: 2^28, about 268 million, 1 GiB of
 * float32 weights. Training also holds a gradient and AdamW's two moments per parameter, 4 GiB in
 * all: the whole memory of the wasm backend (32-bit addresses). A larger size is refused before
 * its tensor is allocated, rather than failing inside tfjs ("Invalid typed array length") or
 * running the machine out of memory.
 */
export const MAX_MODEL_PARAMETERS = 2 ** 28;

/**
 * A model's named, seeded parameters (tf variables): what optimizers update, checkpoints save and
 * `dispose` frees.
 */
export class ParameterStore {
  private readonly vars = new Map<string, Variable>();
  private total = 0;

  constructor(readonly seed: number) {
    if (!Number.isInteger(seed) || seed < 0) throw new ConfigError('seed', seed, 'an integer >= 0');
  }

  /** Creates the parameter `name`; names are unique within a store. */
  create(name: string, shape: number[], init: Initializer, trainable = true): Variable {
    return this.createFrom(name, shape, () => this.initialValue(name, shape, init), trainable);
  }

  /**
   * Creates the parameter `name` starting at `init()` (called once; its value must have
   * `shape`): routers' parameters (ParameterScope), which carry their own initializers.
   */
  createFrom(
    name: string,
    shape: readonly number[],
    init: () => Tensor,
    trainable = true,
  ): Variable {
    if (this.vars.has(name))
      throw new ConfigError('parameter name', name, 'unique within the model');
    const size = shape.reduce((a, b) => a * b, 1);
    if (this.total + size > MAX_MODEL_PARAMETERS) {
      const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
      throw new ConfigError(
        'model size',
        this.total + size,
        `at most ${MAX_MODEL_PARAMETERS} parameters (${gib(4 * MAX_MODEL_PARAMETERS)} of float32 ` +
          `weights, ${gib(16 * MAX_MODEL_PARAMETERS)} with gradients and AdamW moments); ` +
          `parameter ${name} [${shape.join(', ')}] brings it to ${gib(4 * (this.total + size))} ` +
          `of weights, about ${gib(16 * (this.total + size))} to train: ` +
          'lower the width, layers, context length or experts',
      );
    }
    const value = tf.tidy(init);
    if (!tf.util.arraysEqual(value.shape, [...shape])) {
      value.dispose();
      throw new ConfigError(
        `initial value of ${name}`,
        value.shape,
        `of shape [${shape.join(', ')}]`,
      );
    }
    // tfjs names variables uniquely itself; the store's names are ours.
    const v = tf.variable(value, trainable);
    value.dispose();
    this.vars.set(name, v);
    this.total += size;
    return v;
  }

  private initialValue(name: string, shape: number[], init: Initializer): Tensor {
    switch (init.kind) {
      case 'normal':
        // tfjs treats a seed of 0 as unseeded: map it to 1.
        return tf.randomNormal(
          shape,
          0,
          init.std,
          'float32',
          (this.seed * PARAMETER_SEED_MULTIPLIER + hashName(name)) >>> 0 || 1,
        );
      case 'zeros':
        return tf.zeros(shape);
      case 'ones':
        return tf.ones(shape);
    }
  }

  /** A view that prefixes every name with `prefix.`. */
  scope(prefix: string): ScopedStore {
    return new ScopedStore(this, prefix);
  }

  /** The parameter of that full name, if the store has one. */
  get(name: string): Variable | undefined {
    return this.vars.get(name);
  }

  /** Every parameter by name, in creation order. */
  named(): ReadonlyMap<string, Variable> {
    return this.vars;
  }

  /** Every trainable variable. */
  trainable(): Variable[] {
    return [...this.vars.values()].filter((v) => v.trainable);
  }

  /** Total number of scalar parameters. */
  count(): number {
    let n = 0;
    for (const v of this.vars.values()) n += v.size;
    return n;
  }

  /** Replaces values by name (shapes must match); names missing from `values` are kept. */
  assign(values: ReadonlyMap<string, Tensor> | Record<string, Tensor>): void {
    const entries = isMap(values) ? [...values.entries()] : Object.entries(values);
    for (const [name, t] of entries) {
      const v = this.vars.get(name);
      if (v === undefined)
        throw new ConfigError('parameter name', name, `one of the model's parameters`);
      if (!tf.util.arraysEqual(v.shape, t.shape)) {
        throw new ConfigError(`shape of ${name}`, t.shape, `[${v.shape.join(', ')}]`);
      }
      v.assign(t);
    }
  }

  /** Frees every parameter of the store. */
  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
    this.total = 0;
  }
}

/** A prefixed view of a ParameterStore; also the ParameterScope a block gives its routers. */
export class ScopedStore implements ParameterScope {
  constructor(
    readonly root: ParameterStore,
    readonly prefix: string,
  ) {}

  /** Creates the parameter `<prefix>.<name>` in the root store. */
  create(name: string, shape: number[], init: Initializer, trainable = true): Variable {
    return this.root.create(`${this.prefix}.${name}`, shape, init, trainable);
  }

  /** A view one level deeper: parameters named `<prefix>.<prefix2>.<name>`. */
  scope(prefix: string): ScopedStore {
    return new ScopedStore(this.root, `${this.prefix}.${prefix}`);
  }

  variable(
    name: string,
    shape: readonly number[],
    init: () => Tensor,
    trainable: boolean,
  ): Variable {
    return this.root.createFrom(`${this.prefix}.${name}`, shape, init, trainable);
  }
}

function isMap<V>(
  values: ReadonlyMap<string, V> | Record<string, V>,
): values is ReadonlyMap<string, V> {
  return values instanceof Map;
}
