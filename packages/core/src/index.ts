/**
 * Backend bootstrap (Node and browsers), fast differentiable primitives, typed errors and
 * dependency-injection identifiers; `tf` is tfjs-core itself, documented at
 * https://js.tensorflow.org/api/latest/.
 *
 * @module @moderoute/core
 */
// Public API of @moderoute/core: the browser-safe entry (bundlers, browsers, web workers). Node
// resolves the package to index.node.ts instead (the "node" export condition), which adds native
// TensorFlow, the threaded wasm build and the process environment to the same API.
import './gradients.browser.js';
export * from './api.js';
