// The roundings R of a capacity formula (CapacityPolicy.ts), with a guard against binary
// fractions that land just below an integer.
import type { Rounding } from './capacityConfig.js';

/** Python's round(): to nearest, ties to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Relative guard so that 0.57 * 100 (56.99999999999999 in binary) floors to 57, not 56. */
const GUARD = 1e-9;

/** R(x): `x` rounded as `rounding` says (floor and ceil guarded against float error). */
export function applyRounding(x: number, rounding: Rounding): number {
  switch (rounding) {
    case 'floor':
      return Math.floor(x + GUARD * Math.max(1, Math.abs(x)));
    case 'ceil':
      return Math.ceil(x - GUARD * Math.max(1, Math.abs(x)));
    case 'round':
      return roundHalfEven(x);
  }
}
