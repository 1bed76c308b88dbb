// Mocha fixtures that run a suite on each backend the tests cover.
import { initBackend, tf, type BackendName } from '@moderoute/core';

/** Backends every primitive is tested on (native TensorFlow cannot be installed here). */
export const TEST_BACKENDS: readonly BackendName[] = ['cpu', 'wasm'];

/** Registers a `before` hook that activates the backend for the enclosing suite. */
export function useBackend(name: BackendName): void {
  before(async function () {
    this.timeout(30_000);
    await initBackend({ backend: name });
  });
}

/** Declares `describe('on <backend>')` once per test backend, each activating its backend. */
export function forEachBackend(
  body: (backend: BackendName) => void,
  backends: readonly BackendName[] = TEST_BACKENDS,
): void {
  for (const backend of backends) {
    describe(`on ${backend}`, () => {
      useBackend(backend);
      body(backend);
    });
  }
}

/** The number of live tensors (for leak checks). */
export function liveTensors(): number {
  return tf.memory().numTensors;
}
