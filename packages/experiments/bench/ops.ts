// `pnpm bench:ops`: throughput of core's primitives, forward + backward, on each backend, as a
// fraction of the same run's plain 2-D matmul throughput (the backend's practical peak).
//
//   pnpm bench:ops [--backend wasm,cpu] [--reps N] [--json]
//
// --json prints one JSON object per backend, one per line:
//   {"backend", "matmulPeakGflops", "primitives": {NAME: {"gflops", "fractionOfPeak", "ms", ...}}}
// Elementwise primitives are counted with nominal FLOPs per element (listed in NOMINAL_FLOPS, in
// bench/ops/report.ts beside the table printing), so their figures compare runs, not arithmetic
// intensity.
import { parseArgs } from 'node:util';
import {
  BACKEND_NAMES,
  PEAK_SHAPE,
  bestTimeMs,
  matmulPeakGflops,
  describeBackend,
  embedding,
  gatherRows,
  gelu,
  initBackend,
  layerNorm,
  linear,
  multiHeadAttention,
  tf,
  type BackendInfo,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
} from '@moderoute/core';
import { NOMINAL_FLOPS, printTable, type BackendReport, type Measurement } from './ops/report.js';

/** The bench config (docs/performance.md): vocab 256, width 128, 4 heads, T 128, batch 8. */
const BENCH = { vocab: 256, width: 128, heads: 4, seq: 128, batch: 8 } as const;

function rnd(shape: number[], seed: number): Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

/** A measurement; fractionOfPeak is filled in once the run's peak is known. */
function measure(
  name: string,
  flops: number,
  ms: number,
  extra: Record<string, number | string> = {},
): [string, Measurement] {
  return [name, { gflops: flops / ms / 1e6, fractionOfPeak: Number.NaN, ms, flops, ...extra }];
}

function benchBackend(info: BackendInfo, reps: number): BackendReport {
  const keep: Tensor[] = [];
  const hold = <T extends Tensor>(t: T): T => (keep.push(t), t);

  // Peak: plain 2-D matmul, the fast path on every backend, measured before and after the
  // primitives; the better of the two is the peak.
  const { m, k, n } = PEAK_SHAPE;
  const a = hold(rnd([m, k], 1)) as Tensor2D;
  const b = hold(rnd([k, n], 2)) as Tensor2D;
  const mmFlops = 2 * m * k * n;
  const peakBefore = matmulPeakGflops(reps);

  const prims: Record<string, Measurement> = {};
  const add = ([name, value]: [string, Measurement]) => (prims[name] = value);

  // Linear, forward + backward (dx and dW): 3 products of the peak's size.
  const bias = hold(rnd([n], 3)) as Tensor1D;
  const dy = hold(rnd([m, n], 4));
  const linearGrads = tf.grads((x: Tensor, w: Tensor, bb: Tensor) =>
    linear(x as Tensor2D, w as Tensor2D, bb as Tensor1D),
  );
  add(
    measure(
      'linear',
      3 * mmFlops,
      bestTimeMs(() => linearGrads([a, b, bias], dy), reps),
    ),
  );
  const builtinGrads = tf.grads((x: Tensor, w: Tensor, bb: Tensor) =>
    tf.add(tf.matMul(x as Tensor2D, w as Tensor2D), bb),
  );
  add(
    measure(
      'linear (tfjs built-in gradient)',
      3 * mmFlops,
      bestTimeMs(() => builtinGrads([a, b, bias], dy), reps),
    ),
  );

  // Linear at the bench config's MLP shape, [rows, 128] x [128, 512] + b, forward + backward, with
  // a weight matrix new to the backend on every call, as every training step makes it (wasm's
  // XNNPACK packs a product's right-hand matrix once per tensor, which costs about as much as a
  // small product): 512 rows (one replica's 4 sequences of 128) against 64 rows (the same
  // replica's tokens in a 12.5% MoD block). The copy making the new weights (0.01-0.02 ms) is
  // timed with it.
  const mlpW = hold(rnd([BENCH.width, 4 * BENCH.width], 11)) as Tensor2D;
  const mlpB = hold(rnd([4 * BENCH.width], 12)) as Tensor1D;
  for (const r of [512, 64]) {
    const x = hold(rnd([r, BENCH.width], 13)) as Tensor2D;
    const dyR = hold(rnd([r, 4 * BENCH.width], 14));
    const ms = bestTimeMs(() => linearGrads([x, tf.add(mlpW, 0) as Tensor2D, mlpB], dyR), reps);
    add(measure(`linear, ${r} rows, fresh weights`, 3 * 2 * r * BENCH.width * 4 * BENCH.width, ms));
  }

  // Row gather from a [8192, 256] table, forward + backward, at two numbers of rows touched. The
  // backward must scale with the rows touched (plus the output's zero fill), not with a dense
  // one-hot [M, N] product, which is timed beside it.
  const rows = 8192;
  const feat = 256;
  const table = hold(rnd([rows, feat], 5));
  const gatherCase = (touched: number) => {
    const idx = hold(
      tf.tensor1d(
        Array.from({ length: touched }, (_, i) => (i * 7919) % rows),
        'int32',
      ),
    );
    const g = hold(rnd([touched, feat], 6));
    const grads = tf.grads((t: Tensor) => gatherRows(t, idx));
    return { ms: bestTimeMs(() => grads([table], g), reps), idx, g };
  };
  const small = gatherCase(512);
  const large = gatherCase(4096);
  const oneHotGrads = tf.grads((t: Tensor) =>
    tf.matMul(tf.oneHot(small.idx, rows).cast('float32'), t as Tensor2D),
  );
  const oneHotMs = bestTimeMs(
    () => oneHotGrads([table], small.g),
    Math.max(1, Math.min(reps, 3)),
    1,
  );
  add(
    measure('gatherRows', 2 * 4096 * feat, large.ms, {
      rowsTouched: 4096,
      msAt512Rows: small.ms,
      msPerRowTouched: (large.ms - small.ms) / (4096 - 512),
      oneHotReferenceMsAt512Rows: oneHotMs,
    }),
  );

  // Embedding lookup at the bench config.
  const emb = hold(rnd([BENCH.vocab, BENCH.width], 7));
  const ids = hold(tf.randomUniform([BENCH.batch, BENCH.seq], 0, BENCH.vocab, 'int32', 8));
  const embDy = hold(rnd([BENCH.batch, BENCH.seq, BENCH.width], 9));
  const embGrads = tf.grads((t: Tensor) => embedding(t, ids));
  add(
    measure(
      'embedding',
      2 * BENCH.batch * BENCH.seq * BENCH.width,
      bestTimeMs(() => embGrads([emb], embDy), reps),
    ),
  );

  // Elementwise: [1024, 512].
  const ew = hold(rnd([1024, 512], 10));
  const ewDy = hold(rnd([1024, 512], 11));
  const geluGrads = tf.grads((x: Tensor) => gelu(x));
  add(
    measure(
      'gelu',
      NOMINAL_FLOPS.gelu * ew.size,
      bestTimeMs(() => geluGrads([ew], ewDy), reps),
    ),
  );
  const gamma = hold(tf.ones([512]));
  const beta = hold(tf.zeros([512]));
  const lnGrads = tf.grads((x: Tensor, g: Tensor, bb: Tensor) =>
    layerNorm(x, g as Tensor1D, bb as Tensor1D),
  );
  add(
    measure(
      'layerNorm',
      NOMINAL_FLOPS.layerNorm * ew.size,
      bestTimeMs(() => lnGrads([ew, gamma, beta], ewDy), reps),
    ),
  );

  // Causal multi-head attention at the bench config: projections + scores + weighted values.
  const { batch: B, seq: T, width: D, heads: H } = BENCH;
  const x = hold(rnd([B, T, D], 12));
  const wQkv = hold(tf.mul(rnd([D, 3 * D], 13), 1 / Math.sqrt(D)));
  const wOut = hold(tf.mul(rnd([D, D], 14), 1 / Math.sqrt(D)));
  const attDy = hold(rnd([B, T, D], 15));
  const attGrads = tf.grads((xx: Tensor, wq: Tensor, wo: Tensor) =>
    multiHeadAttention(
      xx as Tensor3D,
      { wQkv: wq as Tensor2D, wOut: wo as Tensor2D },
      { numHeads: H },
    ),
  );
  const projFlops = 2 * B * T * D * 3 * D + 2 * B * T * D * D;
  const coreFlops = 2 * 2 * B * T * T * D; // scores and weighted values, all heads
  add(
    measure(
      'multiHeadAttention',
      3 * (projFlops + coreFlops),
      bestTimeMs(() => attGrads([x, wQkv, wOut], attDy), reps),
      {
        config: `B${B} T${T} D${D} H${H}, causal`,
      },
    ),
  );

  const peak = Math.max(peakBefore, matmulPeakGflops(reps));
  for (const p of Object.values(prims)) p.fractionOfPeak = p.gflops / peak;
  tf.dispose(keep);
  return {
    backend: info.name,
    info: describeBackend(info),
    matmulPeakGflops: peak,
    matmulShape: `[${m}x${k}]x[${k}x${n}]`,
    primitives: prims,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'wasm,cpu' },
      reps: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(
      'Usage: pnpm bench:ops [--backend wasm,cpu] [--reps N] [--json]\n' +
        `  --backend  comma-separated backends, of ${BACKEND_NAMES.join(', ')} (default wasm,cpu)\n` +
        '  --reps     timed repetitions per measurement (default 9 on wasm/tensorflow, 3 on cpu)\n' +
        '  --json     one JSON object per backend, one per line, instead of tables',
    );
    return;
  }
  const backends = (values.backend ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const reps = values.reps === undefined ? undefined : Number(values.reps);
  if (reps !== undefined && (!Number.isInteger(reps) || reps < 1)) {
    throw new Error(`--reps (${values.reps}) must be an integer >= 1`);
  }
  for (const name of backends) {
    const info = await initBackend({ backend: name });
    if (!values.json) console.error(`benchmarking ${describeBackend(info)} ...`);
    const report = benchBackend(info, reps ?? (info.name === 'cpu' ? 3 : 9));
    if (values.json) console.log(JSON.stringify(report));
    else printTable(report);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
