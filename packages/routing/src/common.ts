// Helpers the built-in routers share: config key checks, input validation, seeded weights, the
// sigmoid of host values.
import {
  ConfigError,
  ModerouteError,
  ShapeError,
  tf,
  type Rank,
  type Tensor,
  type Variable,
} from '@moderoute/core';
import type { ParameterScope } from './ParameterScope.js';
import { validityOf } from './selection.js';

/** Rejects keys a config does not know (catches typos such as `topk`). */
export function checkKeys(config: object, known: readonly string[], parameter = 'config'): void {
  for (const [key, value] of Object.entries(config)) {
    if (!known.includes(key))
      throw new ConfigError(`${parameter}.${key}`, value, `a known option (${known.join(', ')})`);
  }
}

/** Core's requireBoolean, re-exported where the routers' other config checks live. */
export { requireBoolean } from '@moderoute/core';

/**
 * Whether `value` is a tensor, narrowed to a typed Tensor (tfjs's own `instanceof tf.Tensor`
 * narrows to Tensor<any>, whose shape is `any`).
 */
export function isTensor(value: unknown): value is Tensor<Rank> {
  return value instanceof tf.Tensor;
}

/** Validates x float32[B >= 1, T >= 1, dModel] and an optional mask [B, T]. */
export function checkRouteInput(x: unknown, dModel: number, mask: unknown): void {
  if (!isTensor(x)) throw new ShapeError('x', typeof x, 'a float32 tensor [B, T, D]');
  if (x.rank !== 3) throw new ShapeError('x.shape', x.shape, 'of rank 3, [B, T, D]');
  if (x.dtype !== 'float32') throw new ShapeError('x.dtype', x.dtype, '"float32"');
  const [b, t, d] = x.shape as [number, number, number];
  if (d !== dModel)
    throw new ShapeError(
      'x.shape',
      x.shape,
      `[B, T, ${dModel}] (the router's dModel is ${dModel})`,
    );
  if (b < 1 || t < 1) throw new ShapeError('x.shape', x.shape, `[B >= 1, T >= 1, ${dModel}]`);
  if (mask !== undefined) {
    if (!isTensor(mask)) throw new ShapeError('mask', typeof mask, `a tensor [${b}, ${t}]`);
    if (mask.rank !== 2 || mask.shape[0] !== b || mask.shape[1] !== t) {
      throw new ShapeError(
        'mask.shape',
        mask.shape,
        `[${b}, ${t}] to match x.shape [${b}, ${t}, ${d}]`,
      );
    }
    if (mask.dtype !== 'float32' && mask.dtype !== 'int32' && mask.dtype !== 'bool') {
      throw new ShapeError('mask.dtype', mask.dtype, '"float32", "int32" or "bool"');
    }
  }
}

/** 1 for a real token, 0 for padding, per flat token b * T + t. */
export function readValidity(mask: Tensor | undefined, size: number): Uint8Array {
  return validityOf(mask === undefined ? undefined : (mask.dataSync() as ArrayLike<number>), size);
}

/**
 * The initial value of a weight: a truncated normal N(0, std^2) with a fixed seed (zeros for std
 * 0). tfjs treats a seed of 0 as "no seed" (Math.random), so the seed is offset by one.
 */
export function seededInit(shape: readonly number[], std: number, seed: number): () => Tensor {
  return () =>
    std === 0 ? tf.zeros([...shape]) : tf.truncatedNormal([...shape], 0, std, 'float32', seed + 1);
}

/** A trainable parameter `name` of `scope` starting from seededInit(shape, std, seed). */
export function seededVariable(
  scope: ParameterScope,
  name: string,
  shape: readonly number[],
  std: number,
  seed: number,
): Variable {
  return scope.variable(name, shape, seededInit(shape, std, seed), true);
}

/** Throws when a router is used after `dispose()`. */
export function requireLive(disposed: boolean, className: string): void {
  if (disposed) throw new ModerouteError(`This ${className} router has been disposed`);
}

/** int32 tensor from host numbers. */
export function int32(values: ArrayLike<number>, shape?: number[]): Tensor {
  return tf.tensor(Int32Array.from(values), shape ?? [values.length], 'int32');
}

/**
 * 1 / (1 + exp(-v)) of each value, in double precision. A loop: `Float64Array.from` with a map
 * function took 81 us on 512 values where this takes 13 (docs/performance.md, round 12).
 */
export function sigmoids(values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = 1 / (1 + Math.exp(-(values[i] as number)));
  return out;
}
