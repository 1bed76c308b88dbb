// The matmul peak of the benchmarks (core's bench.ts): tfjs's product, or core's own product where
// its kernels serve (NaN elsewhere), each a positive throughput that leaves no tensor behind and
// puts the own-kernel switch back as it was.
import assert from 'node:assert/strict';
import { matmulPeakGflops, ownKernelsOn, setOwnKernels } from '@moderoute/core';
import { expectNoLeaks, useBackend } from '@moderoute/testing';

describe('matmulPeakGflops', () => {
  describe('on wasm', () => {
    useBackend('wasm');

    it('should measure tfjs’s product and core’s own, leaving the switch and no tensor behind', () => {
      setOwnKernels(false);
      try {
        let tfjs = 0;
        let own = 0;
        expectNoLeaks(() => {
          tfjs = matmulPeakGflops(1);
          own = matmulPeakGflops(1, 'own');
        }, 'the peaks');
        assert.ok(Number.isFinite(tfjs) && tfjs > 0, `tfjs ${tfjs}`);
        assert.ok(Number.isFinite(own) && own > 0, `own ${own}`);
        assert.equal(ownKernelsOn(), false);
      } finally {
        setOwnKernels(undefined);
      }
    });
  });

  describe('on cpu', () => {
    useBackend('cpu');

    it('should give NaN for core’s own product, which has no kernel there', () => {
      assert.ok(Number.isNaN(matmulPeakGflops(1, 'own')));
    });
  });
});
