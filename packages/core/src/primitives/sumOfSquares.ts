// The sum of the squared elements of several tensors, as one float32 scalar: the square of a
// global L2 norm, ||G||_2^2 over every gradient of a step (train's AdamW clips by it; Pascanu et
// al. 2013). On wasm with core's own kernels, one kernel (assembly/sumOfSquares.ts) over all of
// them; elsewhere tfjs's Square and Sum per tensor and an AddN: about two kernels per parameter,
// over a hundred for a small model. Not differentiable: it is read back, not trained through.
import { tf, type Scalar, type Tensor } from '../tf.js';
import { numberedInputs } from './layout.js';
import { ownKernel, ownKernelsServe } from './ownKernels.js';

/** Kernel name: inputs {"0": x0, "1": x1, ...} float32 of any shapes -> float32 scalar. */
export const SUM_OF_SQUARES = 'ModerouteSumOfSquares';

ownKernel(SUM_OF_SQUARES, ['sumOfSquaresAdd'], ({ inputs, backend, exports, offset }) => {
  const out = backend.makeOutput([], 'float32');
  backend.typedArrayFromHeap(out).fill(0);
  for (const x of numberedInputs(inputs))
    exports['sumOfSquaresAdd']!(offset(x), tf.util.sizeFromShape(x.shape), offset(out));
  return [out];
});

/** sum over `tensors` of the sum of their squared elements, float32 (0 for none); ints are cast. */
export function sumOfSquares(tensors: readonly Tensor[]): Scalar {
  if (
    tensors.length > 0 &&
    tensors.every((t) => t.dtype === 'float32') &&
    ownSumOfSquaresKernel()
  ) {
    const inputs = Object.fromEntries(tensors.map((t, i) => [String(i), t]));
    return (tf.engine().runKernel(SUM_OF_SQUARES, inputs, {}) as Tensor[])[0] as Scalar;
  }
  return tf.tidy(() => {
    if (tensors.length === 0) return tf.scalar(0);
    const sums = tensors.map((t) =>
      tf.sum(tf.square(t.dtype === 'float32' ? t : tf.cast(t, 'float32'))),
    );
    return (sums.length === 1 ? sums[0] : tf.addN(sums)) as Scalar;
  });
}

/** Whether sumOfSquares runs its own kernel here: on, registered and instantiable. */
export function ownSumOfSquaresKernel(): boolean {
  return ownKernelsServe(SUM_OF_SQUARES);
}
