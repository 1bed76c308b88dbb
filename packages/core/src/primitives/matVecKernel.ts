// Core's own kernels for a product with one output column on the wasm backend (issue 19): forward
// and backward of assembly/matVec.ts, declared through ownKernels.ts (instantiated on the
// backend's own memory, registered for `wasm` only). linear (linear.ts) runs them for a weight of
// one column without bias (a Mixture-of-Depths router's logit, Raposo et al. 2024 section 3.2)
// when `ownMatVecKernels()` says they serve the active backend, else its 2-D products.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { ownKernel, ownKernelsServe } from './ownKernels.js';

/** Kernel names: inputs {x [N, K], w [K, 1]} -> y [N, 1]; and its backward. */
export const MAT_VEC_FORWARD = 'ModerouteMatVec';
/** Inputs {dy [N, 1], x, w} -> [dx [N, K], dw [K, 1]]. */
export const MAT_VEC_BACKWARD = 'ModerouteMatVecGrad';

ownKernel(MAT_VEC_FORWARD, ['matVecForward'], ({ inputs, backend, exports, offset }) => {
  const x = inputs['x'] as TensorInfo;
  const [n, k] = x.shape as [number, number];
  const y = backend.makeOutput([n, 1], 'float32');
  exports['matVecForward']!(offset(x), offset(inputs['w']), offset(y), n, k);
  return [y];
});

ownKernel(MAT_VEC_BACKWARD, ['matVecBackward'], ({ inputs, backend, exports, offset }) => {
  const x = inputs['x'] as TensorInfo;
  const [n, k] = x.shape as [number, number];
  const dx = backend.makeOutput([n, k], 'float32');
  const dw = backend.makeOutput([k, 1], 'float32');
  exports['matVecBackward']!(
    offset(inputs['dy']),
    offset(x),
    offset(inputs['w']),
    offset(dx),
    offset(dw),
    n,
    k,
  );
  return [dx, dw];
});

/** Whether linear runs the own one-column kernels here: on, registered and instantiable for the active backend. */
export function ownMatVecKernels(): boolean {
  return ownKernelsServe(MAT_VEC_FORWARD, MAT_VEC_BACKWARD);
}
