/**
 * The `moderoute` command, for embedding in other tools.
 *
 * @module @moderoute/cli
 */
// Public API of @moderoute/cli (for embedding the command in other tools and for tests).
export { buildProgram, main } from './main.js';
export { EXIT, formatFlops, type Io } from './output.js';
export { VARIANT_NAMES, variantModel, type VariantName } from './variants.js';
export { trainConfigFrom } from './commands/train.js';
