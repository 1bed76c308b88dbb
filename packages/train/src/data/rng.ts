// A small seeded PRNG for data order and anything else a run must replay exactly.
//
// Generator: mulberry32 (Tommy Ettinger, public domain; 32-bit state, period 2^32, passes
// gjrand/PractRand to moderate sizes), which is plenty for picking window offsets. Seeds are
// scrambled with the splitmix32 finaliser (the 32-bit variant of Steele, Lea & Flood 2014's
// SplitMix mixing function, constants from Hash Prospector) so that nearby seeds and steps give
// unrelated streams. The whole state is one uint32, so it is saved and restored as a number.
import { ConfigError, deriveSeed, mix32 } from '@moderoute/core';

// Both are core's (the routing randomness derives its seeds the same way); re-exported here.
export { deriveSeed, mix32 };

/** mulberry32: a seeded uint32 stream. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new ConfigError('seed', seed, 'an integer');
    this.s = mix32(seed >>> 0);
  }

  /** Restores a generator from `state` (as returned by `.state`), continuing its stream. */
  static fromState(state: number): Rng {
    if (!Number.isInteger(state) || state < 0 || state > 0xffffffff)
      throw new ConfigError('rng state', state, 'an integer in [0, 2^32 - 1]');
    const rng = new Rng(0);
    rng.s = state;
    return rng;
  }

  /** The whole generator state (a uint32): save it to resume the stream exactly. */
  get state(): number {
    return this.s;
  }

  /** The next uint32. */
  nextUint32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1) with 32 random bits. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** An integer uniform in [0, n), without modulo bias (rejection sampling); 1 <= n <= 2^32. */
  nextBelow(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296)
      throw new ConfigError('n', n, 'an integer in [1, 2^32]');
    // Reject the top (2^32 mod n) values so that every residue is equally likely.
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }
}
