// @moderoute/testing: shared fixtures, assertions, gradient checks and arbitraries.
export * from './backends.js';
export * from './assertions.js';
export * from './gradcheck.js';
export * from './arbitraries.js';
