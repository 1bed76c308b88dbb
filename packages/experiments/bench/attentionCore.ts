// The attention core in isolation, own wasm kernel against the tfjs path (issue 19,
// docs/performance.md round 6, "Own kernel: attention core"): forward and backward of
// sum(scaledDotProductAttention(q, k, v, causal bias) * w) on q, k, v float32[B, H, T, Dh], the
// two paths interleaved round by round in one process (setOwnKernels), medians and ranges over
// the rounds, with the same run's plain 2-D matmul peak for scale.
//
//   npx tsx --tsconfig tsconfig.base.json --conditions=@moderoute/source \
//     packages/experiments/bench/attentionCore.ts [--shapes 4x4x128x32,4x4x16x32] [--rounds 9]
//     [--calls 20]
import { parseArgs } from 'node:util';
import {
  attentionBias,
  initBackend,
  matmulPeakGflops,
  ownAttentionKernels,
  scaledDotProductAttention,
  setOwnKernels,
  tf,
  type Tensor,
  type Tensor4D,
} from '@moderoute/core';

const { values } = parseArgs({
  options: {
    shapes: { type: 'string', default: '4x4x128x32,4x4x16x32,4x4x64x16' },
    rounds: { type: 'string', default: '9' },
    calls: { type: 'string', default: '20' },
  },
});
const info = await initBackend({ backend: 'wasm' });
const rounds = Number(values.rounds);
const calls = Number(values.calls);

function timeMs(fn: () => void): number {
  const t0 = performance.now();
  for (let c = 0; c < calls; c++) fn();
  return (performance.now() - t0) / calls;
}

const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(3);
  return `${f(s[s.length >> 1]!)} (${f(s[0]!)}-${f(s[s.length - 1]!)})`;
};

console.log(`wasm, ${info.threads} thread(s); ms per call, median (range) over ${rounds} rounds`);
for (const spec of values.shapes.split(',')) {
  const [b, h, t, dh] = spec.split('x').map(Number) as [number, number, number, number];
  const [q, k, v, w] = [1, 2, 3, 4].map((s) => tf.randomNormal([b, h, t, dh], 0, 1, 'float32', s));
  const bias = attentionBias(t, true);
  const loss = (qi: Tensor, ki: Tensor, vi: Tensor) =>
    tf.sum(
      tf.mul(scaledDotProductAttention(qi as Tensor4D, ki as Tensor4D, vi as Tensor4D, bias), w!),
    );
  const step = () => tf.tidy(() => void tf.grads(loss)([q!, k!, v!]));
  const forward = () =>
    tf.tidy(
      () => void scaledDotProductAttention(q as Tensor4D, k as Tensor4D, v as Tensor4D, bias),
    );
  const times = {
    own: [] as number[],
    tfjs: [] as number[],
    ownF: [] as number[],
    tfjsF: [] as number[],
  };
  const peaks: number[] = [];
  for (let r = 0; r < rounds; r++) {
    peaks.push(matmulPeakGflops(5));
    for (const own of [true, false]) {
      setOwnKernels(own);
      if (own && !ownAttentionKernels())
        throw new Error('the own attention kernels do not serve wasm here');
      (own ? times.own : times.tfjs).push(timeMs(step));
      (own ? times.ownF : times.tfjsF).push(timeMs(forward));
      setOwnKernels(undefined);
    }
  }
  console.log(
    `[${b},${h},${t},${dh}] forward+backward: own ${summary(times.own)}, tfjs ${summary(times.tfjs)}; ` +
      `forward: own ${summary(times.ownF)}, tfjs ${summary(times.tfjsF)}; matmul peak ${summary(peaks)} GFLOP/s`,
  );
  tf.dispose([q!, k!, v!, w!, bias!]);
}
