// What the backend bootstrap needs from the environment it runs in, so that the main entry of
// @moderoute/core imports no Node built-in and reads no `process`. The browser-safe defaults are
// here; the Node entry (index.node.ts) installs nodePlatform.ts at import, with native TensorFlow,
// the threaded wasm build and the process environment.
import { ConfigError } from './errors.js';

/** The environment-specific services the backend bootstrap uses. */
export interface Platform {
  /** `node` or `browser` (anything without Node's built-ins: browsers, web workers, Deno's web mode). */
  readonly name: 'node' | 'browser';
  /** Environment variables (MODEROUTE_BACKEND, MODEROUTE_THREADS); empty where there are none. */
  env(): Readonly<Record<string, string | undefined>>;
  /** Logical cores available to this process or page. */
  parallelism(): number;
  /** Loads a package by name (an optional peer such as `@tensorflow/tfjs-node`). */
  importPackage(name: string): Promise<unknown>;
  /**
   * Starts tfjs's threaded SIMD wasm build with `threads` pool threads and registers it as `wasm`
   * (Node only: tfjs's own loader does it in a cross-origin-isolated page).
   */
  startThreadedWasm?: (threads: number) => Promise<void>;
  /** Runs `body`, undoing process-wide side effects of starting a backend (Node: rethrow listeners). */
  guard<T>(body: () => Promise<T>): Promise<T>;
}

interface MaybeProcess {
  process?: { env?: Record<string, string | undefined> };
  navigator?: { hardwareConcurrency?: number };
}

/** The platform of environments without Node's built-ins. */
export const browserPlatform: Platform = {
  name: 'browser',
  env: () => (globalThis as MaybeProcess).process?.env ?? {},
  parallelism: () => Math.max(1, (globalThis as MaybeProcess).navigator?.hardwareConcurrency ?? 1),
  // A bundler leaves an import of a computed name alone; the page resolves it (import maps) or not.
  importPackage: (name) => import(/* @vite-ignore */ /* webpackIgnore: true */ name),
  guard: (body) => body(),
};

let current: Platform = browserPlatform;

/** The platform in use: Node's when the Node entry of @moderoute/core was loaded, else the browser's. */
export function platform(): Platform {
  return current;
}

/** Installs the platform (the Node entry calls it once at import; tests may swap it). */
export function setPlatform(next: Platform): void {
  current = next;
}

/**
 * Throws the ConfigError for a Node-only function called where Node's built-ins are absent:
 * `what` (a browser) must be Node, and what to use instead.
 */
export function nodeOnly(what: string, instead: string): never {
  throw new ConfigError(
    what,
    'called in a browser',
    `called under Node: it needs Node's built-ins and is exported with them by the ` +
      `"node" condition of the package; in a browser, ${instead}`,
  );
}
