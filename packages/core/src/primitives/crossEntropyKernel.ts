// Core's own softmax cross-entropy kernels on the wasm backend (issue 19): forward and backward
// of assembly/crossEntropy.ts, declared through ownKernels.ts (instantiated on the backend's own
// memory, registered for `wasm` only). The model's next-token loss (packages/model/src/
// crossEntropy.ts) runs them when `ownCrossEntropyKernels()` says they serve the active backend,
// else its tfjs ops: about twenty kernels each way, 2 ms a step at the bench config
// (docs/performance.md, round 9).
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { ownKernel, ownKernelsServe } from './ownKernels.js';

/** Kernel name: inputs {logits float32[N, V], targets int32[N]} -> [p float32[N, V], loss float32[N]]. */
export const CROSS_ENTROPY_FORWARD = 'ModerouteCrossEntropy';
/** Inputs {p, targets, scale float32[N]} -> [dlogits float32[N, V]] = (p - onehot) scale. */
export const CROSS_ENTROPY_BACKWARD = 'ModerouteCrossEntropyGrad';

ownKernel(
  CROSS_ENTROPY_FORWARD,
  ['crossEntropyForward'],
  ({ inputs, backend, exports, offset }) => {
    const z = inputs['logits'] as TensorInfo;
    const [n, v] = z.shape as [number, number];
    const p = backend.makeOutput([n, v], 'float32');
    const loss = backend.makeOutput([n], 'float32');
    exports['crossEntropyForward']!(
      offset(z),
      offset(inputs['targets']),
      offset(p),
      offset(loss),
      n,
      v,
    );
    return [p, loss];
  },
);

ownKernel(
  CROSS_ENTROPY_BACKWARD,
  ['crossEntropyBackward'],
  ({ inputs, backend, exports, offset }) => {
    const p = inputs['p'] as TensorInfo;
    const [n, v] = p.shape as [number, number];
    const dz = backend.makeOutput([n, v], 'float32');
    const args = [offset(p), offset(inputs['targets']), offset(inputs['scale']), offset(dz)];
    exports['crossEntropyBackward']!(...args, n, v);
    return [dz];
  },
);

/** Whether the model's cross-entropy runs the own kernels here: on, registered and instantiable for the active backend. */
export function ownCrossEntropyKernels(): boolean {
  return ownKernelsServe(CROSS_ENTROPY_FORWARD, CROSS_ENTROPY_BACKWARD);
}
