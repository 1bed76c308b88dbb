// The single TensorFlow.js entry point of moderoute. Every package imports `tf` from
// @moderoute/core, never from @tensorflow/* directly, so that one engine is used everywhere.
//
// tfjs-core alone registers no gradients and no chained methods (`t.sum()`), and its ESM files
// cannot be loaded by Node directly; the union package's Node bundle registers both, through
// tfjs's global registries, as a side effect of being imported.
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';

export { tf };
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Scalar, Variable, Rank, NamedTensorMap } from '@tensorflow/tfjs-core';
