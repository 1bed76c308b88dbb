// Public API of @moderoute/core under Node (the "node" export condition): the browser-safe API
// with the Node platform installed (native TensorFlow, the threaded wasm build, process.env).
import '#tfjs-gradients';
import { setPlatform } from './platform.js';
import { nodePlatform } from './nodePlatform.js';
import './wasmKernels.node.js';

setPlatform(nodePlatform);

export * from './api.js';
