// Core's own-kernel loader (packages/core/src/primitives/ownKernels.ts): a kernel serves only where
// the installed module has every function it declares it uses, so that a module built from older
// sources than the TypeScript (a tree whose dist/kernels/ was not rebuilt) leaves that kernel to
// the tfjs path instead of failing at its first call; and the scoped switch, withOwnKernels.
import assert from 'node:assert/strict';
import {
  LAYER_NORM_BACKWARD,
  LAYER_NORM_FORWARD,
  ownKernel,
  ownKernelsOn,
  ownKernelsServe,
  setOwnKernels,
  withOwnKernels,
} from '@moderoute/core';
import { useBackend } from '@moderoute/testing';

describe('own kernels loader', () => {
  useBackend('wasm');

  it('should serve a kernel whose module functions are all present', () => {
    assert.equal(ownKernelsServe(LAYER_NORM_FORWARD, LAYER_NORM_BACKWARD), true);
  });

  it('should leave a kernel using a function the module lacks to the tfjs path', () => {
    ownKernel('ModerouteTestMissingFunction', ['noSuchKernelFunction'], () => {
      throw new Error('never run: the module lacks its function');
    });
    ownKernel('ModerouteTestPresentFunction', ['layerNormForward'], () => {
      throw new Error('never run');
    });
    assert.equal(ownKernelsServe('ModerouteTestPresentFunction'), true);
    assert.equal(ownKernelsServe('ModerouteTestMissingFunction'), false);
    assert.equal(
      ownKernelsServe('ModerouteTestPresentFunction', 'ModerouteTestMissingFunction'),
      false,
    );
  });

  it('should switch them for a body only, putting back an unset switch as unset', () => {
    const saved = process.env['MODEROUTE_OWN_KERNELS'];
    try {
      setOwnKernels(undefined);
      assert.equal(withOwnKernels(false, ownKernelsOn), false);
      assert.throws(() => withOwnKernels(false, () => assert.fail('thrown')), /thrown/);
      // Unset again: the environment decides (an explicit switch would ignore it).
      process.env['MODEROUTE_OWN_KERNELS'] = '0';
      assert.equal(ownKernelsOn(), false);
      delete process.env['MODEROUTE_OWN_KERNELS'];
      assert.equal(ownKernelsOn(), true);
      setOwnKernels(false);
      assert.equal(withOwnKernels(true, ownKernelsOn), true);
      assert.equal(withOwnKernels(undefined, ownKernelsOn), false, 'undefined: as they are');
      assert.equal(ownKernelsOn(), false);
    } finally {
      setOwnKernels(undefined);
      if (saved === undefined) delete process.env['MODEROUTE_OWN_KERNELS'];
      else process.env['MODEROUTE_OWN_KERNELS'] = saved;
    }
  });

  it('should not serve a kernel that was never declared', () => {
    assert.equal(ownKernelsServe('ModerouteNoSuchKernel'), false);
  });
});
