import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import {
  BACKEND_NAMES,
  BackendError,
  ConfigError,
  MAX_WASM_THREADS,
  activeBackend,
  browserPlatform,
  describeBackend,
  initBackend,
  nodeOnly,
  platform,
  setPlatform,
  tf,
} from '@moderoute/core';

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
    it('should throw a ConfigError naming what runs under Node and what in a browser', async () => {
      await assert.rejects(
        initBackend({ env: { MODEROUTE_BACKEND: 'metal' } }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(
            error.message,
            new RegExp(
              '^MODEROUTE_BACKEND \\("metal"\\) must be one of "tensorflow", "wasm", ' +
                '"cpu" under Node, or "webgl", "wasm", "cpu", "webgpu" in a browser$',
            ),
          );
          for (const name of BACKEND_NAMES)
            assert.ok(error.message.includes(`"${name}"`), error.message);
          return true;
        },
      );
    });
  });

  describe('when a browser backend is asked for under Node', () => {
    it('should throw a ConfigError saying where it runs', async () => {
      for (const backend of ['webgl', 'webgpu']) {
        await assert.rejects(initBackend({ backend }), (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(
            error.message,
            new RegExp(
              `^backend \\("${backend}"\\) must be a backend that runs under Node: ` +
                `"tensorflow", "wasm", "cpu" under Node, or "webgl"`,
            ),
          );
          return true;
        });
      }
    });
  });

  describe('on the browser platform', () => {
    const node = platform();
    beforeEach(() => setPlatform(browserPlatform));
    afterEach(() => setPlatform(node));

    it('should refuse the native backend with a ConfigError naming the browser backends', async () => {
      await assert.rejects(initBackend({ backend: 'tensorflow' }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(
          error.message,
          new RegExp(
            '^backend \\("tensorflow"\\) must be a backend that runs in a browser: ' +
              '.* or "webgl", "wasm", "cpu", "webgpu" in a browser$',
          ),
        );
        return true;
      });
    });

    it('should say which package to install and import for webgl', async () => {
      await assert.rejects(initBackend({ backend: 'webgl' }), (error: unknown) => {
        assert.ok(error instanceof BackendError);
        assert.match(
          error.message,
          new RegExp(
            'needs @tensorflow\\/tfjs-backend-webgl: `npm install ' +
              '@tensorflow\\/tfjs-backend-webgl`, then `import ' +
              "'@tensorflow\\/tfjs-backend-webgl'` before initBackend",
          ),
        );
        return true;
      });
    });

    it('should pick a backend by itself, skipping webgl when its package is not loaded', async () => {
      const info = await initBackend({ env: {} });
      assert.equal(info.skipped[0]?.name, 'webgl');
      assert.ok(info.name === 'wasm' || info.name === 'cpu', info.name);
    });
  });

  describe('nodeOnly', () => {
    it('should throw a ConfigError naming the function and the alternative', () => {
      assert.throws(
        () => nodeOnly('loadTextCorpus()', 'pass the text to splitDocuments'),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(
            error.message,
            new RegExp(
              '^loadTextCorpus\\(\\) \\("called in a browser"\\) must be called under ' +
                'Node: .* in a browser, pass the text to splitDocuments$',
            ),
          );
          return true;
        },
      );
    });
  });

  describe('when tensorflow is asked for and no native package is installed', () => {
    it('should throw the install hint', async () => {
      await assert.rejects(
        initBackend({ backend: 'tensorflow', importPackage: absent }),
        (error: unknown) => {
          assert.ok(error instanceof BackendError);
          assert.match(error.message, /npm install @tensorflow\/tfjs-node-gpu/);
          assert.match(error.message, /@tensorflow\/tfjs-node \(CPU\)/);
          assert.match(error.message, /MODEROUTE_BACKEND=wasm/);
          return true;
        },
      );
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
      // The default: the machine's parallelism (MODEROUTE_THREADS is not set for the tests).
      const threads = Math.min(availableParallelism(), MAX_WASM_THREADS);
      assert.equal(info.threads, threads);
      assert.deepEqual(info.notes, []);
      assert.equal(info.skipped[0]?.name, 'tensorflow');
      assert.match(describeBackend(info), new RegExp(`^wasm \\(SIMD, ${threads} threads?\\)`));
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
