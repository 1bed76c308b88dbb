import assert from 'node:assert/strict';
import { BACKEND_NAMES, BackendError, activeBackend, describeBackend, initBackend, tf } from '@moderoute/core';

const absent = async (name: string): Promise<never> => {
  throw new Error(`Cannot find package '${name}'`);
};

describe('initBackend', () => {
  after(async () => {
    await initBackend({ backend: 'cpu' });
  });

  describe('when MODEROUTE_BACKEND names a backend', () => {
    it('should use it', async () => {
      const info = await initBackend({ env: { MODEROUTE_BACKEND: 'cpu' } });
      assert.equal(info.name, 'cpu');
      assert.equal(tf.getBackend(), 'cpu');
      const wasm = await initBackend({ env: { MODEROUTE_BACKEND: 'WASM' } });
      assert.equal(wasm.name, 'wasm');
      assert.equal(tf.getBackend(), 'wasm');
      assert.equal(activeBackend(), wasm);
    });

    it('should be overridden by an explicit option', async () => {
      const info = await initBackend({ backend: 'cpu', env: { MODEROUTE_BACKEND: 'wasm' } });
      assert.equal(info.name, 'cpu');
    });
  });

  describe('when the name is unknown', () => {
    it('should throw a BackendError listing the valid names', async () => {
      await assert.rejects(initBackend({ env: { MODEROUTE_BACKEND: 'webgpu' } }), (error: unknown) => {
        assert.ok(error instanceof BackendError);
        assert.match(error.message, /MODEROUTE_BACKEND \("webgpu"\)/);
        for (const name of BACKEND_NAMES) assert.ok(error.message.includes(`"${name}"`), error.message);
        return true;
      });
    });
  });

  describe('when tensorflow is asked for and no native package is installed', () => {
    it('should throw the install hint', async () => {
      await assert.rejects(initBackend({ backend: 'tensorflow', importPackage: absent }), (error: unknown) => {
        assert.ok(error instanceof BackendError);
        assert.match(error.message, /npm install @tensorflow\/tfjs-node-gpu/);
        assert.match(error.message, /@tensorflow\/tfjs-node \(CPU\)/);
        assert.match(error.message, /MODEROUTE_BACKEND=wasm/);
        return true;
      });
    });

    it('should also fail with the real package loader, since neither package installs here', async () => {
      await assert.rejects(initBackend({ backend: 'tensorflow' }), /tfjs-node-gpu/);
    });
  });

  describe('when nothing is asked for', () => {
    it('should fall back to wasm with SIMD, saying why tensorflow was skipped', async () => {
      const info = await initBackend({ env: {}, importPackage: absent });
      assert.equal(info.name, 'wasm');
      assert.equal(info.simd, true);
      assert.equal(info.threads, 1);
      assert.equal(info.skipped[0]?.name, 'tensorflow');
      assert.match(describeBackend(info), /^wasm \(SIMD, 1 thread\)/);
    });

    it('should prefer the native GPU package when it loads', async () => {
      const tried: string[] = [];
      // Stand-in for @tensorflow/tfjs-node-gpu: registers a "tensorflow" backend, as it does.
      const fake = async (name: string) => {
        tried.push(name);
        const cpuFactory = tf.findBackendFactory('cpu');
        assert.ok(cpuFactory);
        tf.registerBackend('tensorflow', cpuFactory);
        return {};
      };
      try {
        const info = await initBackend({ env: {}, importPackage: fake });
        assert.equal(info.name, 'tensorflow');
        assert.equal(info.package, '@tensorflow/tfjs-node-gpu');
        assert.deepEqual(tried, ['@tensorflow/tfjs-node-gpu']);
        assert.equal(tf.getBackend(), 'tensorflow');
      } finally {
        tf.removeBackend('tensorflow');
      }
    });
  });
});
