import assert from 'node:assert/strict';
import fc from 'fast-check';
import { deriveSeed, mix32 } from '@moderoute/core';

describe('deriveSeed', () => {
  it('should fold the parts one by one, each mixed on its own (the data stream for two parts)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(2 ** 32 - 1), { minLength: 1, maxLength: 6 }), (parts) => {
        let h = mix32(parts[0]!);
        for (const p of parts.slice(1))
          h = mix32((h ^ Math.imul(mix32(p) + 0x632be5ab, 0x85ebca6b)) >>> 0);
        assert.equal(deriveSeed(parts[0]!, ...parts.slice(1)), h);
      }),
    );
  });

  it('should tell apart orders, neighbours and lengths of the same coordinates', () => {
    const seeds = [
      deriveSeed(7, 3, 0, 1, 0),
      deriveSeed(7, 3, 1, 1, 0),
      deriveSeed(7, 4, 0, 1, 0),
      deriveSeed(7, 3, 0, 0, 1),
      deriveSeed(7, 3, 0, 1),
      deriveSeed(3, 7, 0, 1, 0),
    ];
    assert.equal(new Set(seeds).size, seeds.length);
  });
});
