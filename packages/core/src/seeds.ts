// Seeds derived from the caller's coordinates (run seed, step, replica, block, stage, ...), so
// that randomness is a pure function of where it is drawn: a resumed run draws what the
// uninterrupted run drew, and each replica, block and stage draws its own. The training data
// stream (train's TrainWindows) and the routing randomness use the same function.

/**
 * The splitmix32 finaliser: a bijective avalanche mix of a uint32 (the 32-bit variant of the
 * mixing function of SplitMix, Steele, Lea & Flood 2014, "Fast splittable pseudorandom number
 * generators", with constants from Hash Prospector; golden-ratio increment first).
 */
export function mix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/**
 * A uint32 seed from integer parts (each taken modulo 2^32), order-sensitive: h = mix32(p_0),
 * then for each further part h = mix32(h ^ ((mix32(p_i) + 0x632be5ab) * 0x85ebca6b mod 2^32)).
 * Each part is mixed on its own before it is combined, so (a, b) and (b, a) or a + b do not
 * collide. With two parts it is the seed of stream `index` of `seed` that the data stream
 * uses. Feed it to tfjs through a caller that maps 0 (tfjs' "no seed") to another value.
 */
export function deriveSeed(first: number, ...rest: number[]): number {
  let h = mix32(first >>> 0);
  for (const part of rest)
    h = mix32((h ^ Math.imul(mix32(part >>> 0) + 0x632be5ab, 0x85ebca6b)) >>> 0);
  return h;
}
