import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ConfigError,
  multiHeadAttention,
  tf,
  type AttentionParams,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import {
  attentionShapes,
  checkDirectionalDerivatives,
  dim,
  checkSameGradients,
  expectClose,
  expectNoLeaks,
  forEachBackend,
  randomTensor,
  runs,
} from '@moderoute/testing';

function params(d: number, seed: number, bias = true): AttentionParams {
  const s = 1 / Math.sqrt(d);
  return {
    wQkv: randomTensor([d, 3 * d], seed, s) as Tensor2D,
    wOut: randomTensor([d, d], seed + 1, s) as Tensor2D,
    ...(bias
      ? {
          bQkv: randomTensor([3 * d], seed + 2, 0.1) as Tensor1D,
          bOut: randomTensor([d], seed + 3, 0.1) as Tensor1D,
        }
      : {}),
  };
}

/** Written independently of the primitive: per-head loop, boolean masks, tfjs autodiff. */
function reference(
  x: Tensor,
  p: AttentionParams,
  numHeads: number,
  causal: boolean,
  mask?: Tensor,
): Tensor {
  const [b, t, d] = x.shape as [number, number, number];
  const dh = d / numHeads;
  const x2 = x.reshape([b * t, d]);
  let qkv = tf.matMul(x2 as Tensor2D, p.wQkv);
  if (p.bQkv) qkv = tf.add(qkv, p.bQkv);
  const heads: Tensor[] = [];
  const allowed = tf.tidy(() => {
    let ok = tf.ones([b, t, t], 'bool');
    if (causal)
      ok = tf.logicalAnd(
        ok,
        tf
          .greaterEqual(tf.range(0, t).reshape([t, 1]), tf.range(0, t).reshape([1, t]))
          .expandDims(0),
      );
    if (mask) ok = tf.logicalAnd(ok, tf.cast(mask, 'bool').reshape([b, 1, t]));
    return ok;
  });
  for (let h = 0; h < numHeads; h++) {
    const q = tf.slice(qkv, [0, h * dh], [b * t, dh]).reshape([b, t, dh]);
    const k = tf.slice(qkv, [0, d + h * dh], [b * t, dh]).reshape([b, t, dh]);
    const v = tf.slice(qkv, [0, 2 * d + h * dh], [b * t, dh]).reshape([b, t, dh]);
    const scores = tf.div(tf.matMul(q, k, false, true), Math.sqrt(dh));
    const masked = tf.where(allowed, scores, tf.fill([b, t, t], -1e9));
    heads.push(tf.matMul(tf.softmax(masked), v));
  }
  let out = tf.matMul(tf.concat(heads, 2).reshape([b * t, d]) as Tensor2D, p.wOut);
  if (p.bOut) out = tf.add(out, p.bOut);
  return out.reshape([b, t, d]);
}

const withParams =
  (d: number, f: (x: Tensor3D, p: AttentionParams) => Tensor) =>
  (x: Tensor, wQkv: Tensor, bQkv: Tensor, wOut: Tensor, bOut: Tensor) =>
    f(x as Tensor3D, {
      wQkv: wQkv as Tensor2D,
      bQkv: bQkv as Tensor1D,
      wOut: wOut as Tensor2D,
      bOut: bOut as Tensor1D,
    });

describe('multiHeadAttention', () => {
  forEachBackend(() => {
    it('should equal an independent reference, value and every gradient, on random shapes', () => {
      fc.assert(
        fc.property(attentionShapes(), ({ b, t, h, dh, causal, seed }) => {
          tf.tidy(() => {
            const d = h * dh;
            const p = params(d, seed);
            const x = randomTensor([b, t, d], seed + 10);
            checkSameGradients(
              withParams(d, (xx, pp) => multiHeadAttention(xx, pp, { numHeads: h, causal })),
              withParams(d, (xx, pp) => reference(xx, pp, h, causal)),
              [x, p.wQkv, p.bQkv as Tensor, p.wOut, p.bOut as Tensor],
              { rtol: 2e-3, atol: 2e-4 },
            );
          });
        }),
        runs(15),
      );
    });

    it(
      'should equal the reference, value and every gradient, on sequences a multiple ' +
        'of 8 long, with and without a key mask',
      () => {
        // T = 8k takes the wasm paths for whole blocks of rows (blocked transposes); a key mask
        // joins the causal bias.
        const shapes = fc.record({
          b: dim(1, 2),
          t: fc.constantFrom(8, 16),
          h: dim(1, 3),
          dh: dim(1, 4),
          causal: fc.boolean(),
          masked: fc.boolean(),
          seed: fc.nat(1e6),
        });
        fc.assert(
          fc.property(shapes, ({ b, t, h, dh, causal, masked, seed }) => {
            tf.tidy(() => {
              const d = h * dh;
              const p = params(d, seed);
              const lengths = Array.from({ length: b }, (_, i) => 1 + ((seed + 3 * i) % t));
              const mask = masked
                ? tf.tensor2d(
                    lengths.flatMap((len) =>
                      Array.from({ length: t }, (_, j) => (j < len ? 1 : 0)),
                    ),
                    [b, t],
                  )
                : undefined;
              const x = randomTensor([b, t, d], seed + 10);
              checkSameGradients(
                withParams(d, (xx, pp) =>
                  multiHeadAttention(xx, pp, { numHeads: h, causal, ...(mask ? { mask } : {}) }),
                ),
                withParams(d, (xx, pp) => reference(xx, pp, h, causal, mask)),
                [x, p.wQkv, p.bQkv as Tensor, p.wOut, p.bOut as Tensor],
                { rtol: 2e-3, atol: 2e-4 },
              );
            });
          }),
          runs(8),
        );
      },
    );

    it('should match finite differences', () => {
      fc.assert(
        fc.property(attentionShapes(), ({ b, t, h, dh, causal, seed }) => {
          tf.tidy(() => {
            const d = h * dh;
            const p = params(d, seed);
            const w = randomTensor([b, t, d], seed + 20);
            checkDirectionalDerivatives(
              withParams(d, (xx, pp) =>
                tf.sum(tf.mul(multiHeadAttention(xx, pp, { numHeads: h, causal }), w)),
              ),
              [
                randomTensor([b, t, d], seed + 10),
                p.wQkv,
                p.bQkv as Tensor,
                p.wOut,
                p.bOut as Tensor,
              ],
              { epsilon: 3e-3 },
            );
          });
        }),
        runs(6),
      );
    });

    it('should be causal: the output at t does not change when tokens after t do', () => {
      fc.assert(
        fc.property(attentionShapes(), fc.nat(), ({ b, t, h, dh, seed }, cut) => {
          const pos = cut % t;
          tf.tidy(() => {
            const d = h * dh;
            const p = params(d, seed);
            const x = randomTensor([b, t, d], seed + 10);
            // Replace every token after `pos` with fresh values.
            const keep = tf.less(tf.range(0, t), pos + 1).reshape([1, t, 1]);
            const x2 = tf.where(
              keep.tile([b, 1, d]),
              x,
              randomTensor([b, t, d], seed + 99),
            ) as Tensor3D;
            const y1 = multiHeadAttention(x as Tensor3D, p, { numHeads: h });
            const y2 = multiHeadAttention(x2, p, { numHeads: h });
            expectClose(
              y2.slice([0, 0, 0], [b, pos + 1, d]),
              y1.slice([0, 0, 0], [b, pos + 1, d]),
              { rtol: 1e-5, atol: 1e-6 },
            );
          });
        }),
        runs(20),
      );
    });

    it('should ignore padded keys and match the reference under a mask', () => {
      fc.assert(
        fc.property(attentionShapes(), fc.nat(), ({ b, t, h, dh, causal, seed }, pads) => {
          tf.tidy(() => {
            const d = h * dh;
            const p = params(d, seed);
            // Left padding of up to t - 1 tokens per sequence (position 0 stays real when causal
            // would leave a query without keys).
            const lengths = Array.from({ length: b }, (_, i) => 1 + ((pads + i) % t));
            const mask = tf.tensor2d(
              lengths.flatMap((len) => Array.from({ length: t }, (_, j) => (j < len ? 1 : 0))),
              [b, t],
            );
            const x = randomTensor([b, t, d], seed + 10);
            const noisy = tf.where(
              tf.cast(mask, 'bool').reshape([b, t, 1]).tile([1, 1, d]),
              x,
              randomTensor([b, t, d], seed + 5),
            ) as Tensor3D;
            const y = multiHeadAttention(x as Tensor3D, p, { numHeads: h, causal, mask });
            const yNoisy = multiHeadAttention(noisy, p, { numHeads: h, causal, mask });
            const real = tf.cast(mask, 'bool').reshape([b, t, 1]).tile([1, 1, d]);
            expectClose(tf.where(real, yNoisy, 0), tf.where(real, y, 0), {
              rtol: 1e-5,
              atol: 1e-6,
            });
            expectClose(y, reference(x, p, h, causal, mask), { rtol: 2e-3, atol: 2e-4 });
          });
        }),
        runs(15),
      );
    });

    it('should not leak tensors, forward or backward, with or without a mask', () => {
      const p = params(4, 1, false);
      const vars = [tf.variable(p.wQkv), tf.variable(p.wOut)];
      const x = randomTensor([2, 3, 4], 2) as Tensor3D;
      const mask = tf.tensor2d([
        [1, 1, 0],
        [1, 1, 1],
      ]);
      const pv = { wQkv: vars[0] as unknown as Tensor2D, wOut: vars[1] as unknown as Tensor2D };
      expectNoLeaks(() => multiHeadAttention(x, pv, { numHeads: 2 }), 'forward');
      expectNoLeaks(
        () => multiHeadAttention(x, pv, { numHeads: 2, mask, causal: false }),
        'forward, masked',
      );
      expectNoLeaks(
        () => tf.variableGrads(() => tf.sum(multiHeadAttention(x, pv, { numHeads: 2, mask }))),
        'backward',
      );
      tf.dispose([...vars, x, mask, p.wQkv, p.wOut]);
    });
  });

  describe('when numHeads does not divide the width', () => {
    it('should throw a ConfigError naming numHeads', () => {
      tf.tidy(() => {
        const p = params(6, 1);
        assert.throws(
          () => multiHeadAttention(tf.zeros([1, 2, 6]) as Tensor3D, p, { numHeads: 4 }),
          (e: unknown) =>
            e instanceof ConfigError &&
            /numHeads \(4\) must be a positive integer dividing the model width 6/.test(e.message),
        );
      });
    });
  });
});
