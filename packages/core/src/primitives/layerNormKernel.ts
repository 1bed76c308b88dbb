// Core's own layer-norm kernels on the wasm backend (issue 19): forward and backward of
// assembly/layerNorm.ts, declared through ownKernels.ts (instantiated on the backend's own
// memory, registered for `wasm` only). layerNorm (layerNorm.ts) dispatches to them when
// `ownLayerNormKernels()` says they serve the active backend, else it runs its tfjs ops.
import { tf, type Tensor } from '../tf.js';
import { ownKernel, ownKernelsServe } from './ownKernels.js';

/** Kernel names: inputs {x, gamma, beta}, attr eps -> [y, xhat, rstd]; and its backward. */
export const LAYER_NORM_FORWARD = 'ModerouteLayerNorm';
/** Inputs {dy, xhat, rstd, gamma} -> [dx, dgamma, dbeta]. */
export const LAYER_NORM_BACKWARD = 'ModerouteLayerNormGrad';

ownKernel(
  LAYER_NORM_FORWARD,
  ['layerNormForward'],
  ({ inputs, attrs, backend, exports, offset }) => {
    const x = inputs['x']!;
    const [n, d] = x.shape as [number, number];
    const y = backend.makeOutput([n, d], 'float32');
    const xhat = backend.makeOutput([n, d], 'float32');
    const rstd = backend.makeOutput([n, 1], 'float32');
    const [gamma, beta] = [offset(inputs['gamma']), offset(inputs['beta'])];
    exports['layerNormForward']!(
      offset(x),
      gamma,
      beta,
      offset(y),
      offset(xhat),
      offset(rstd),
      n,
      d,
      attrs['eps'] as number,
    );
    return [y, xhat, rstd];
  },
);

ownKernel(LAYER_NORM_BACKWARD, ['layerNormBackward'], ({ inputs, backend, exports, offset }) => {
  const dy = inputs['dy']!;
  const [n, d] = dy.shape as [number, number];
  const dx = backend.makeOutput([n, d], 'float32');
  const dgamma = backend.makeOutput([d], 'float32');
  const dbeta = backend.makeOutput([d], 'float32');
  const saved = [offset(inputs['xhat']), offset(inputs['rstd']), offset(inputs['gamma'])];
  exports['layerNormBackward']!(
    offset(dy),
    ...saved,
    offset(dx),
    offset(dgamma),
    offset(dbeta),
    n,
    d,
  );
  return [dx, dgamma, dbeta];
});

/** Whether layerNorm runs the own kernels here: on, registered and instantiable for the active backend. */
export function ownLayerNormKernels(): boolean {
  return ownKernelsServe(LAYER_NORM_FORWARD, LAYER_NORM_BACKWARD);
}

/** The forward kernel on x float32[N, D]: [y, xhat float32[N, D], rstd float32[N, 1]]. */
export function ownLayerNormForward(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor[] {
  return tf.engine().runKernel(LAYER_NORM_FORWARD, { x, gamma, beta }, { eps }) as Tensor[];
}

/** The backward kernel from the forward's xhat and rstd: [dx, dgamma, dbeta]. */
export function ownLayerNormBackward(
  dy: Tensor,
  xhat: Tensor,
  rstd: Tensor,
  gamma: Tensor,
): Tensor[] {
  return tf.engine().runKernel(LAYER_NORM_BACKWARD, { dy, xhat, rstd, gamma }, {}) as Tensor[];
}
