// Seeds derived from the caller's coordinates (run seed, step, replica, block, stage, ...), so
// that randomness is a pure function of where it is drawn: a resumed run draws what the
// uninterrupted run drew, and each replica, block and stage draws its own.
import { ConfigError } from './errors.js';

/**
 * The MurmurHash3 32-bit finalizer `fmix32` (Austin Appleby, MurmurHash3.cpp, public domain):
 * an invertible mix in which every input bit affects every output bit.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 2^32, to split a safe integer into its low and high 32-bit words. */
const WORD = 0x1_0000_0000;

/**
 * A seed in [1, 2^32 - 1] from integer parts in [0, 2^53 - 1], order-sensitive: starting from
 * the golden-ratio constant 0x9e3779b9, each 32-bit word w of each part (low word, then high word)
 * is folded in as h = fmix32(h ^ w) + 0x9e3779b9 (MurmurHash3's finalizer in the combine step of
 * boost::hash_combine), and the count of parts last, so that (a, b) and (a, b, 0) differ. Never 0,
 * which tfjs reads as "no seed".
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  parts.forEach((part, i) => {
    if (!Number.isSafeInteger(part) || part < 0)
      throw new ConfigError(`deriveSeed part ${i}`, part, 'an integer in [0, 2^53 - 1]');
    h = (fmix32(h ^ (part % WORD)) + 0x9e3779b9) >>> 0;
    h = (fmix32(h ^ Math.floor(part / WORD)) + 0x9e3779b9) >>> 0;
  });
  return fmix32(h ^ parts.length) || 1;
}
