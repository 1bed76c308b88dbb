// Core's own GELU kernels on the wasm backend (issue 19): forward and backward of
// assembly/gelu.ts, declared through ownKernels.ts (instantiated on the backend's own memory,
// registered for `wasm` only). gelu (activations.ts) dispatches to them when `ownGeluKernels()`
// says they serve the active backend, else it runs its tfjs ops.
import { tf, type Tensor } from '../tf.js';
import { ownKernel, ownKernelsServe } from './ownKernels.js';

/** Kernel names: inputs {x} float32 -> [y, s], y = x s, s = sigmoid(1.702 x), of x's shape. */
export const GELU_FORWARD = 'ModerouteGelu';
/** Inputs {dy, y, s} (the forward's y and s) -> [dx]. */
export const GELU_BACKWARD = 'ModerouteGeluGrad';

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

ownKernel(GELU_FORWARD, ['geluForward'], ({ inputs, backend, exports, offset }) => {
  const x = inputs['x']!;
  const y = backend.makeOutput([...x.shape], 'float32');
  const s = backend.makeOutput([...x.shape], 'float32');
  exports['geluForward']!(offset(x), offset(y), offset(s), sizeOf(x.shape));
  return [y, s];
});

ownKernel(GELU_BACKWARD, ['geluBackward'], ({ inputs, backend, exports, offset }) => {
  const dy = inputs['dy']!;
  const dx = backend.makeOutput([...dy.shape], 'float32');
  const saved = [offset(inputs['y']), offset(inputs['s'])];
  exports['geluBackward']!(offset(dy), ...saved, offset(dx), sizeOf(dy.shape));
  return [dx];
});

/** Whether gelu runs the own kernels here: on, registered and instantiable for the active backend. */
export function ownGeluKernels(): boolean {
  return ownKernelsServe(GELU_FORWARD, GELU_BACKWARD);
}

/** The forward kernel: [y, s] of x's shape. */
export function ownGeluForward(x: Tensor): Tensor[] {
  return tf.engine().runKernel(GELU_FORWARD, { x }, {}) as Tensor[];
}

/** The backward kernel from the forward's y and s: dx. */
export function ownGeluBackward(dy: Tensor, y: Tensor, s: Tensor): Tensor {
  return (tf.engine().runKernel(GELU_BACKWARD, { dy, y, s }, {}) as Tensor[])[0]!;
}
