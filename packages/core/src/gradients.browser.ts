// Registers tfjs-core's gradients and chained tensor methods (`t.sum()`) for bundlers: tfjs-core's
// own entry registers neither (the union @tensorflow/tfjs package does, by importing these two
// files). The Node entry loads the same registrations from a bundle (scripts/bundle-tfjs-gradients.mjs).
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';
