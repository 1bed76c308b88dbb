// The attention core as it was before the 3-D attention rewrite (4-D batched matmuls with
// transpose flags, causal bias from bandPart), kept for `pnpm bench --baseline`: the same model
// trained with it, side by
// side with core's current attention in one run (exported for the bench command only).
import { ContainerModule } from 'inversify';
import {
  CORE_IDS,
  defaultPrimitives,
  linear,
  mergeHeads,
  splitHeads,
  tf,
  type AttentionOptions,
  type AttentionParams,
  type Primitives,
  type Tensor,
  type Tensor3D,
  type Tensor4D,
} from '@moderoute/core';

const MASKED_LOGIT = -1e9;

function bias(t: number, causal: boolean, mask?: Tensor): Tensor4D | undefined {
  if (!causal && mask === undefined) return undefined;
  let b: Tensor | undefined;
  if (causal)
    b = tf.reshape(tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([t, t]), -1, 0)), MASKED_LOGIT), [
      1,
      1,
      t,
      t,
    ]);
  if (mask !== undefined) {
    const keyBias = tf.mul(
      tf.sub(1, tf.reshape(tf.cast(mask, 'float32'), [mask.shape[0] as number, 1, 1, t])),
      MASKED_LOGIT,
    );
    b = b === undefined ? keyBias : tf.maximum(tf.add(b, keyBias), MASKED_LOGIT);
  }
  return b as Tensor4D;
}

function core(bias4: Tensor4D | undefined, scale: number) {
  const attend = tf.customGrad<Tensor4D>((...inputs) => {
    const [q, k, v, save] = inputs as [Tensor4D, Tensor4D, Tensor4D, (saved: Tensor[]) => void];
    let scores = tf.mul(tf.matMul(q, k, false, true), scale);
    if (bias4 !== undefined) scores = tf.add(scores, bias4);
    const p = tf.softmax(scores);
    save([q, k, v, p]);
    return {
      value: tf.matMul(p, v),
      gradFunc: (dO: Tensor4D, saved: Tensor[]) => {
        const [sq, sk, sv, sp] = saved as [Tensor4D, Tensor4D, Tensor4D, Tensor4D];
        const dV = tf.matMul(sp, dO, true, false);
        const dP = tf.matMul(dO, sv, false, true);
        const dS = tf.mul(sp, tf.sub(dP, tf.sum(tf.mul(dP, sp), -1, true)));
        return [
          tf.mul(tf.matMul(dS, sk), scale),
          tf.mul(tf.matMul(dS, sq, true, false), scale),
          dV,
        ];
      },
    };
  });
  return (q: Tensor4D, k: Tensor4D, v: Tensor4D): Tensor4D => attend(q, k, v);
}

/** multiHeadAttention before the 3-D rewrite (no validation: the bench passes well-formed inputs). */
export function baselineMultiHeadAttention(
  x: Tensor3D,
  params: AttentionParams,
  options: AttentionOptions,
): Tensor3D {
  const { numHeads, causal = true, mask } = options;
  const t = x.shape[1];
  return tf.tidy(() => {
    const qkv = linear(x, params.wQkv, params.bQkv);
    const [q, k, v] = tf.split(qkv, 3, 2) as [Tensor3D, Tensor3D, Tensor3D];
    const o = core(bias(t, causal, mask), 1 / Math.sqrt(x.shape[2] / numHeads))(
      splitHeads(q, numHeads),
      splitHeads(k, numHeads),
      splitHeads(v, numHeads),
    );
    return linear(mergeHeads(o), params.wOut, params.bOut);
  });
}

/** core's primitives with the baseline attention. */
export function baselinePrimitives(base: Primitives): Primitives {
  return Object.freeze({ ...base, multiHeadAttention: baselineMultiHeadAttention });
}

/** Rebinds core's primitives to the baseline attention (`--baseline`'s container). */
export const baselineModule = new ContainerModule(({ rebind }) => {
  rebind(CORE_IDS.Primitives).toConstantValue(baselinePrimitives(defaultPrimitives));
});
