// Under Node: core's own wasm kernels from dist/kernels/ (built by scripts/build-wasm-kernels.mjs
// from assembly/), registered for the `wasm` backend. Without the files (a tree not built) nothing
// is registered and every primitive keeps its tfjs path.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { installOwnKernels } from './primitives/ownKernels.js';

/** dist/kernels/ of this package: from dist/ (built) or from src/ (sources). */
const directory = ['./kernels/', '../dist/kernels/']
  .map((d) => fileURLToPath(new URL(d, import.meta.url)))
  .find((d) => existsSync(`${d}kernels.wasm`) && existsSync(`${d}kernels.shared.wasm`));

if (directory !== undefined)
  installOwnKernels({
    plain: readFileSync(`${directory}kernels.wasm`),
    shared: readFileSync(`${directory}kernels.shared.wasm`),
  });
