// Loading the package of the backend the user picks, before initBackend starts it: a bundle
// cannot import a package by a computed name, so webgl and webgpu are imported here (each its own
// chunk, fetched only when chosen), and the wasm binaries are the build's own assets.
import { tf } from '@moderoute/core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

/** Imports the package of backend `name` where it needs one; says in words when it cannot run. */
export async function loadBackendPackage(name: string): Promise<void> {
  if (name === 'webgl') {
    if (
      typeof OffscreenCanvas === 'undefined' ||
      new OffscreenCanvas(1, 1).getContext('webgl2') === null
    )
      throw new Error('this browser has no WebGL 2 in workers; choose wasm or cpu');
    await import('@tensorflow/tfjs-backend-webgl');
    // Shaders that take shapes as uniforms are compiled once per op, not once per shape: decoding
    // with a growing KV cache would otherwise compile new programs at every token.
    tf.env().set('WEBGL_USE_SHAPES_UNIFORMS', true);
  } else if (name === 'webgpu') {
    const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    if (gpu === undefined || (await gpu.requestAdapter()) === null)
      throw new Error('this browser has no WebGPU (no GPU adapter); choose webgl, wasm or cpu');
    await import('@tensorflow/tfjs-backend-webgpu');
  }
}
