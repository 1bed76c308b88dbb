// The single TensorFlow.js entry point of moderoute. Every package imports `tf` from
// @moderoute/core, never from @tensorflow/* directly, so that one engine is used everywhere.
//
// tfjs-core is a peer dependency: the consumer's copy is the one used. It registers no gradients
// and no chained methods (`t.sum()`) by itself; the package entries do (index.ts for bundlers,
// index.node.ts for Node).
import * as tf from '@tensorflow/tfjs-core';

export { tf };
export type {
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor3D,
  Tensor4D,
  Scalar,
  Variable,
  Rank,
  NamedTensorMap,
} from '@tensorflow/tfjs-core';
