// `pnpm bench`: training steps at the bench config on one backend, for every block kind, measured
// side by side in one run, with the backend's 2-D matmul peak; and the cost of routing itself
// (router + selection + dispatch + combine, forward and backward) against the dense block it routes.
//
//   pnpm bench [--backend wasm] [--steps N] [--json]
//
// Bench config (the issues'): vocabulary 256, width 128, 4 layers, 4 heads, sequence 128,
// batch 8, MLP 4x, Adam. Routed variants put their block every other layer (["dense", X]).
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { bestTimeMs, describeBackend, initBackend, matmulPeakGflops, tf, type Scalar, type Tensor, type Tensor2D, type Tensor3D } from '@moderoute/core';
import { combineRows, dispatchRows } from '@moderoute/routing';
import { ParameterStore, resolveBlockSpec, type Block, BLOCKS_IDS } from '@moderoute/blocks';
import { MODEL_IDS, createContainer, type LanguageModelConfig } from '@moderoute/model';

const BENCH = { vocabSize: 256, width: 128, numLayers: 4, numHeads: 4, contextLength: 128, mlpRatio: 4 } as const;
const BATCH = 8;
const SEQ = 128;

/** The variants, by their JSON names. */
export const VARIANTS: Record<string, LanguageModelConfig> = {
  dense: { ...BENCH },
  mod: { ...BENCH, schedule: { pattern: ['dense', { kind: 'mod', depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.125 } } }] } },
  moe: { ...BENCH, schedule: { pattern: ['dense', { kind: 'moe', numExperts: 4, expertRouter: { name: 'token-choice', config: { topK: 1, capacity: { trainFactor: 1.25, evalFactor: 1.25 } } } }] } },
  staged_mode: { ...BENCH, schedule: { pattern: ['dense', { kind: 'mode-staged', numExperts: 4, depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.125 } } }] } },
  integrated_mode: { ...BENCH, schedule: { pattern: ['dense', { kind: 'mode-integrated', numExperts: 4, numNoopExperts: 4 }] } },
};

interface VariantResult {
  msPerStep: number;
  tokensPerSec: number;
  flopsPerStep: number;
  gflops: number;
  fractionOfPeak: number;
  parameters: number;
}

function benchVariant(config: LanguageModelConfig, steps: number): VariantResult {
  const model = createContainer().get(MODEL_IDS.ModelFactory).create(config);
  const optimizer = tf.train.adam(1e-3);
  const batch = tf.randomUniform([BATCH, SEQ + 1], 0, 256, 'int32', 7);
  const inputs = tf.slice(batch, [0, 0], [BATCH, SEQ]) as Tensor2D;
  const targets = tf.slice(batch, [0, 1], [BATCH, SEQ]) as Tensor2D;
  const vars = model.trainableVariables();
  try {
    const ms = bestTimeMs(() => {
      const { value, grads } = tf.variableGrads(() => model.loss(inputs, targets, { training: true }).loss, vars);
      optimizer.applyGradients(grads as never);
      tf.dispose(grads);
      return value;
    }, steps);
    const flopsPerStep = model.flops(SEQ).training * BATCH;
    return { msPerStep: ms, tokensPerSec: (BATCH * SEQ) / (ms / 1000), flopsPerStep, gflops: flopsPerStep / ms / 1e6, fractionOfPeak: Number.NaN, parameters: model.parameterCount() };
  } finally {
    optimizer.dispose();
    model.dispose();
    tf.dispose([batch, inputs, targets]);
  }
}

/** Routing overhead: route + dispatch + combine (identity experts), fwd+bwd, over a dense block's fwd+bwd. */
function benchRouting(reps: number): Record<string, { ms: number; denseBlockMs: number; fractionOfDenseBlock: number }> {
  const container = createContainer();
  const factory = container.get(BLOCKS_IDS.BlockFactory);
  const dims = { width: BENCH.width, numHeads: BENCH.numHeads, mlpHidden: 4 * BENCH.width, residualStd: 0.01 };
  const store = new ParameterStore(0);
  const build = (spec: Parameters<typeof resolveBlockSpec>[0], i: number): Block => factory.create(resolveBlockSpec(spec, dims.mlpHidden), dims, { store: store.scope(`b${i}`), seed: i });
  const dense = build({ kind: 'dense' }, 0);
  const routed: Record<string, Block> = {
    'token-choice (E=4, K=1, cf 1.25)': build({ kind: 'moe', numExperts: 4, expertRouter: { name: 'token-choice', config: { capacity: { trainFactor: 1.25, evalFactor: 1.25 } } } }, 1),
    'expert-choice (E=4, cf 1)': build({ kind: 'moe', numExperts: 4, expertRouter: 'expert-choice' }, 2),
    'mixture-of-depths (12.5%)': build({ kind: 'mod' }, 3),
  };
  const x = tf.randomNormal([BATCH, SEQ, BENCH.width], 0, 1, 'float32', 3) as Tensor3D;
  const dy = tf.randomNormal([BATCH, SEQ, BENCH.width], 0, 1, 'float32', 4);
  const grad = (f: (x: Tensor) => Tensor) => () => tf.grads((xx: Tensor) => tf.sum(tf.mul(f(xx), dy)) as Scalar)([x]);
  try {
    const denseMs = bestTimeMs(grad((xx) => dense.forward(xx as Tensor3D, { training: true }).output), reps);
    const out: Record<string, { ms: number; denseBlockMs: number; fractionOfDenseBlock: number }> = {};
    for (const [name, block] of Object.entries(routed)) {
      const router = block.routers()[0]!;
      const ms = bestTimeMs(
        grad((xx) => {
          const plan = router.route(xx as Tensor3D, { training: true });
          const aux = Object.values(plan.auxLosses).reduce<Tensor>((a, l) => tf.add(a, l), tf.scalar(0));
          return tf.add(combineRows(plan, dispatchRows(plan, xx as Tensor3D)), aux);
        }),
        reps,
      );
      out[name] = { ms, denseBlockMs: denseMs, fractionOfDenseBlock: ms / denseMs };
    }
    return out;
  } finally {
    store.dispose();
    for (const b of [dense, ...Object.values(routed)]) for (const r of b.routers()) r.dispose();
    tf.dispose([x, dy]);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'wasm' },
      steps: { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('Usage: pnpm bench [--backend wasm|cpu|tensorflow] [--steps N] [--json]\n  --steps  timed training steps per variant after 2 warm-up steps (default 5; the best is reported)\n  --json   one JSON object instead of tables');
    return;
  }
  const steps = Number(values.steps);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps (${values.steps}) must be an integer >= 1`);
  const info = await initBackend({ backend: values.backend ?? 'wasm' });
  const log = (s: string) => values.json || console.error(s);
  log(`benchmarking training steps on ${describeBackend(info)} ...`);
  const peakBefore = matmulPeakGflops();
  const variants: Record<string, VariantResult> = {};
  for (const [name, config] of Object.entries(VARIANTS)) {
    log(`  ${name} ...`);
    variants[name] = benchVariant(config, steps);
  }
  log('  routing overhead ...');
  const routing = benchRouting(steps * 2);
  const peak = Math.max(peakBefore, matmulPeakGflops());
  for (const v of Object.values(variants)) v.fractionOfPeak = v.gflops / peak;
  const dense = variants['dense']!;
  const mod = variants['mod']!;
  const report = {
    backend: info.name,
    info: describeBackend(info),
    matmulPeakGflops: peak,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    config: { ...BENCH, batch: BATCH, seqLen: SEQ, optimizer: 'adam' },
    variants,
    modOverDense: { measured: mod.msPerStep / dense.msPerStep, analytic: mod.flopsPerStep / dense.flopsPerStep },
    moeOverDense: variants['moe']!.msPerStep / dense.msPerStep,
    routing,
  };
  if (values.json) {
    console.log(JSON.stringify(report));
    return;
  }
  const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
  console.log(`\n${report.info}; plain 2-D matmul peak ${peak.toFixed(2)} GFLOP/s; peak RSS ${report.peakRssMb.toFixed(0)} MB`);
  const t = new Table({ head: ['variant', 'ms/step', 'tokens/s', 'GFLOP/step', 'GFLOP/s', 'of peak', 'x dense time', 'x dense FLOPs', 'params'], ...style });
  for (const [name, v] of Object.entries(variants)) {
    t.push([name, v.msPerStep.toFixed(1), v.tokensPerSec.toFixed(0), (v.flopsPerStep / 1e9).toFixed(2), v.gflops.toFixed(2), `${(100 * v.fractionOfPeak).toFixed(0)}%`, (v.msPerStep / dense.msPerStep).toFixed(2), (v.flopsPerStep / dense.flopsPerStep).toFixed(2), String(v.parameters)]);
  }
  console.log(t.toString());
  console.log(`MoD/dense step time ${report.modOverDense.measured.toFixed(3)} vs analytic FLOP ratio ${report.modOverDense.analytic.toFixed(3)} (target: at most 1.1x: ${(report.modOverDense.measured / report.modOverDense.analytic).toFixed(2)}x)`);
  const r = new Table({ head: ['routing (fwd+bwd)', 'ms', 'dense block ms', 'of dense block'], ...style });
  for (const [name, v] of Object.entries(routing)) r.push([name, v.ms.toFixed(2), v.denseBlockMs.toFixed(2), `${(100 * v.fractionOfDenseBlock).toFixed(1)}%`]);
  console.log(r.toString());
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
