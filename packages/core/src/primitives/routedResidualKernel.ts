// Core's own kernels for a routed block's epilogue on the wasm backend (issue 19): forward and
// backward of assembly/routedResidual.ts, declared through ownKernels.ts (instantiated on the
// backend's own memory, registered for `wasm` only). routedResidual (routedResidual.ts) runs them
// when `ownRoutedResidualKernels()` says they serve the active backend, else its tfjs ops.
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { checkedIndices } from './gather.js';
import { ownKernel, ownKernelsServe } from './ownKernels.js';

/** Kernel names: inputs {x, rows, weights, indices} -> out; and its backward. */
export const ROUTED_RESIDUAL_FORWARD = 'ModerouteRoutedResidual';
/** Inputs {dy, rows, weights, indices} -> [drows, dweights]. */
export const ROUTED_RESIDUAL_BACKWARD = 'ModerouteRoutedResidualGrad';

ownKernel(
  ROUTED_RESIDUAL_FORWARD,
  ['routedResidualForward'],
  ({ inputs, backend, exports, offset }) => {
    const x = inputs['x'] as TensorInfo;
    const [m, d] = x.shape as [number, number];
    const n = (inputs['rows'] as TensorInfo).shape[0] as number;
    checkedIndices(backend, inputs['indices'] as TensorInfo, m);
    const out = backend.makeOutput([m, d], 'float32');
    exports['routedResidualForward']!(
      offset(x),
      offset(inputs['rows']),
      offset(inputs['weights']),
      offset(inputs['indices']),
      offset(out),
      m,
      n,
      d,
    );
    return [out];
  },
);

ownKernel(
  ROUTED_RESIDUAL_BACKWARD,
  ['routedResidualBackward'],
  ({ inputs, backend, exports, offset }) => {
    const dy = inputs['dy'] as TensorInfo;
    const [m, d] = dy.shape as [number, number];
    const n = (inputs['rows'] as TensorInfo).shape[0] as number;
    checkedIndices(backend, inputs['indices'] as TensorInfo, m);
    const drows = backend.makeOutput([n, d], 'float32');
    const dweights = backend.makeOutput([n], 'float32');
    exports['routedResidualBackward']!(
      offset(dy),
      offset(inputs['rows']),
      offset(inputs['weights']),
      offset(inputs['indices']),
      offset(drows),
      offset(dweights),
      n,
      d,
    );
    return [drows, dweights];
  },
);

/** Whether routedResidual runs the own kernels here: on, registered and instantiable for the active backend. */
export function ownRoutedResidualKernels(): boolean {
  return ownKernelsServe(ROUTED_RESIDUAL_FORWARD, ROUTED_RESIDUAL_BACKWARD);
}
