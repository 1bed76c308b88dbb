// wasm's Identity kernel without the copy.
//
// tfjs's engine saves every tensor a gradient needs (a customGrad's save(), a kernel's saved
// inputs and outputs) through Identity, and tf.clone is Identity too. The cpu backend's Identity
// shares the input's buffer (one more reference, no copy), as wasm's own Reshape does; wasm's
// Identity copies the whole buffer inside the heap, about 200 times in a training step at the
// bench config (docs/performance.md, "Backend facts"). Tensors
// are immutable (Variable.assign swaps the buffer, it does not write into it; no wasm kernel
// writes into its inputs), so sharing is safe, and this registers the sharing form for wasm.
// Strings keep wasm's own kernel.
import '@tensorflow/tfjs-backend-wasm';
import type { DataId, KernelFunc, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { tf } from '../tf.js';

interface RefCountingBackend {
  incRef(dataId: DataId): void;
}

/** Whether wasm's Identity shares its input's buffer (set once, when core is first imported). */
export const SHARED_IDENTITY = 'ModerouteSharedIdentity';

const original = tf.getKernel(tf.Identity, 'wasm');
if (
  original !== undefined &&
  (original as { [SHARED_IDENTITY]?: boolean })[SHARED_IDENTITY] !== true
) {
  const copying = original.kernelFunc;
  const shared = ((args: { inputs: NamedTensorInfoMap; backend: unknown; attrs?: unknown }) => {
    const x = args.inputs['x'] as TensorInfo;
    if (x.dtype === 'string') return (copying as (a: typeof args) => TensorInfo)(args);
    (args.backend as RefCountingBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  }) as unknown as KernelFunc;
  tf.unregisterKernel(tf.Identity, 'wasm');
  tf.registerKernel({
    kernelName: tf.Identity,
    backendName: 'wasm',
    kernelFunc: shared,
    ...{ [SHARED_IDENTITY]: true },
  });
}
