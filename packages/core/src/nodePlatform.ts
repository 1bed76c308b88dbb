// The Node platform of the backend bootstrap (see platform.ts): installed by the Node entry,
// never imported by the browser entry, so Node's built-ins stay out of browser bundles.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { Platform } from './platform.js';
import { createThreadedWasmBackend, registerWasmBackend } from './wasmThreads.js';

/** Imports a package from this package's location, then from the working directory's. */
async function importPackage(name: string): Promise<unknown> {
  try {
    return await import(name);
  } catch (first) {
    let resolved: string;
    try {
      resolved = createRequire(pathToFileURL(`${process.cwd()}/`).href).resolve(name);
    } catch {
      throw first;
    }
    return import(pathToFileURL(resolved).href);
  }
}

/**
 * Runs `body`, then removes the process 'uncaughtException' and 'unhandledRejection' listeners it
 * added. tfjs's Emscripten builds install listeners that rethrow, so every later uncaught error
 * is reported at the rethrow, a minified line of tens of kilobytes, instead of where it was
 * thrown; without them Node's own handling (print the error and exit) applies, as before.
 */
async function withoutRethrowListeners<T>(body: () => Promise<T>): Promise<T> {
  const events = ['uncaughtException', 'unhandledRejection'];
  const listeners = (event: string) => process.listeners(event as 'uncaughtException') as unknown[];
  const before = events.map((e) => new Set(listeners(e)));
  try {
    return await body();
  } finally {
    events.forEach((e, i) => {
      for (const listener of listeners(e))
        if (!before[i]!.has(listener))
          process.off(e as 'uncaughtException', listener as () => void);
    });
  }
}

/** Node: process.env, every core, native TensorFlow by package name, tfjs's threaded wasm build. */
export const nodePlatform: Platform = {
  name: 'node',
  env: () => process.env,
  parallelism: () => availableParallelism(),
  importPackage,
  startThreadedWasm: async (threads) =>
    registerWasmBackend(await createThreadedWasmBackend(threads)),
  guard: withoutRethrowListeners,
};
