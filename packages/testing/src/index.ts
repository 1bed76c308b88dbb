/**
 * The plugin author's kit: backend fixtures, tensor assertions, gradient checks, fast-check
 * arbitraries, and the router, block and training law suites every implementation must pass.
 *
 * @module @moderoute/testing
 */
// @moderoute/testing: shared fixtures, assertions, gradient checks, arbitraries and law suites.
export * from './backends.js';
export * from './assertions.js';
export * from './gradcheck.js';
export * from './arbitraries.js';
export * from './routerLaws.js';
export * from './blockLaws.js';
export * from './causalLaws.js';
export * from './sessionLaws.js';
export * from './trainingLaws.js';
