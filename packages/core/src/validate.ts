// Validation helpers shared by every config and primitive. Each throws a ConfigError or
// ShapeError whose message names the parameter, the value and what was expected.
import type { Tensor } from './tf.js';
import { ConfigError, ShapeError } from './errors.js';

/** Bounds of an integer check (`requireInt`), both inclusive. */
export interface IntRange {
  readonly min?: number;
  readonly max?: number;
}

/** Requires an integer in [min, max]; returns it. */
export function requireInt(parameter: string, value: unknown, range: IntRange = {}): number {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    // Past the safe-integer range (1e99 is an integer to JavaScript), say that range is the limit.
    const unsafe =
      typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value);
    const hi = range.max !== undefined ? range.max : unsafe ? Number.MAX_SAFE_INTEGER : undefined;
    const lo = range.min !== undefined ? range.min : unsafe ? Number.MIN_SAFE_INTEGER : undefined;
    const bounds =
      lo !== undefined && hi !== undefined
        ? `an integer in [${lo}, ${hi}]`
        : lo !== undefined
          ? `an integer >= ${lo}`
          : hi !== undefined
            ? `an integer <= ${hi}`
            : 'an integer';
    throw new ConfigError(
      parameter,
      value,
      unsafe && range.max === undefined
        ? `${bounds} (the safe-integer range of a double, 2^53 - 1)`
        : bounds,
    );
  }
  return value;
}

/** Bounds of a finite-number check (`requireNumber`). */
export interface NumberRange {
  readonly min?: number;
  readonly max?: number;
  /** Whether `min` itself is allowed (default true). */
  readonly minInclusive?: boolean;
}

/** Requires a finite number in the given range; returns it. */
export function requireNumber(parameter: string, value: unknown, range: NumberRange = {}): number {
  const { min, max, minInclusive = true } = range;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (min === undefined || (minInclusive ? value >= min : value > min)) &&
    (max === undefined || value <= max);
  if (!ok) {
    const lower = min === undefined ? '' : `${minInclusive ? '>=' : '>'} ${min}`;
    const upper = max === undefined ? '' : `<= ${max}`;
    const bounds = [lower, upper].filter(Boolean).join(' and ');
    throw new ConfigError(
      parameter,
      value,
      bounds ? `a finite number ${bounds}` : 'a finite number',
    );
  }
  return value as number;
}

/** Requires a boolean (not a truthy value); returns it. */
export function requireBoolean(parameter: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(parameter, value, 'a boolean');
  return value;
}

/** Requires one of the listed string literals; returns it, typed. */
export function requireOneOf<T extends string>(
  parameter: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(
      parameter,
      value,
      `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`,
    );
  }
  return value as T;
}

/** Requires a tensor of the given rank (or one of several ranks). */
export function requireRank(parameter: string, t: Tensor, rank: number | readonly number[]): void {
  const ranks = typeof rank === 'number' ? [rank] : rank;
  if (!ranks.includes(t.rank)) {
    throw new ShapeError(`${parameter}.shape`, t.shape, `of rank ${ranks.join(' or ')}`);
  }
}

/** Requires `t.shape[axis] === size` (negative axes count from the end). */
export function requireDim(
  parameter: string,
  t: Tensor,
  axis: number,
  size: number,
  expected: string,
): void {
  const a = axis < 0 ? t.rank + axis : axis;
  if (t.shape[a] !== size) throw new ShapeError(`${parameter}.shape`, t.shape, expected);
}

/** Requires a given dtype. */
export function requireDtype(parameter: string, t: Tensor, dtype: Tensor['dtype']): void {
  if (t.dtype !== dtype) throw new ShapeError(`${parameter}.dtype`, t.dtype, `"${dtype}"`);
}
