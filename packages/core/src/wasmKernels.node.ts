// Under Node: core's own wasm kernels from dist/kernels/ (built by scripts/build-wasm-kernels.mjs
// from assembly/), registered for the `wasm` backend. Without the files (a tree not built) nothing
// is registered and layerNorm keeps its tfjs path.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { installLayerNormKernels } from './primitives/layerNormKernel.js';

/** dist/kernels/ of this package: from dist/ (built) or from src/ (sources). */
const directory = ['./kernels/', '../dist/kernels/']
  .map((d) => fileURLToPath(new URL(d, import.meta.url)))
  .find((d) => existsSync(`${d}layerNorm.wasm`) && existsSync(`${d}layerNorm.shared.wasm`));

if (directory !== undefined)
  installLayerNormKernels({
    plain: readFileSync(`${directory}layerNorm.wasm`),
    shared: readFileSync(`${directory}layerNorm.shared.wasm`),
  });
