// Core's own AdamW update kernel on the wasm backend (issue 19): assembly/adamw.ts, declared
// through ownKernels.ts (instantiated on the backend's own memory, registered for `wasm` only).
// adamwUpdate (adamw.ts) dispatches to it when `ownAdamWKernels()` says it serves the active
// backend, else it runs its tfjs ops.
import { ownKernel, ownKernelsServe } from './ownKernels.js';

/**
 * Kernel name: inputs {g, m, v, p} float32[N] (and {decay} float32[N] when attr decayMode is 2),
 * attrs scale, beta1, oneMinusBeta1, beta2, oneMinusBeta2, bc1, bc2, eps, lr, decayScalar,
 * decayMode -> [m', v', p'] float32[N].
 */
export const ADAMW_UPDATE = 'ModerouteAdamWUpdate';

/** The scalar attributes the module's adamwUpdate takes before the decay, in its order. */
export const ADAMW_SCALARS = [
  'scale',
  'beta1',
  'oneMinusBeta1',
  'beta2',
  'oneMinusBeta2',
  'bc1',
  'bc2',
  'eps',
  'lr',
] as const;

ownKernel(ADAMW_UPDATE, ['adamwUpdate'], ({ inputs, attrs, backend, exports, offset }) => {
  const g = inputs['g']!;
  const n = g.shape[0] as number;
  const out = [0, 1, 2].map(() => backend.makeOutput([n], 'float32'));
  const mode = attrs['decayMode'] as number;
  const numbers = [...ADAMW_SCALARS, 'decayScalar'].map((k) => attrs[k] as number);
  exports['adamwUpdate']!(
    offset(g),
    offset(inputs['m']),
    offset(inputs['v']),
    offset(inputs['p']),
    mode === 2 ? offset(inputs['decay']) : 0,
    ...out.map(offset),
    n,
    ...numbers,
    mode,
  );
  return out;
});

/** Whether adamwUpdate runs the own kernel here: on, registered and instantiable for the active backend. */
export function ownAdamWKernels(): boolean {
  return ownKernelsServe(ADAMW_UPDATE);
}
