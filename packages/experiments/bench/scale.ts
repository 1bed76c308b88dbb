// `pnpm bench:scale`: MoD/dense step time over the analytic FLOP ratio as the model grows, on one
// replica. The bench config (width 128, 128 tokens) and wider or longer versions of it, each a
// dense and a MoD model (12.5% every other block) trained step by step in turn (AdamW included,
// as `moderoute bench` trains them), the ratio taken step by step and its median reported. What a
// MoD step pays regardless of its tokens shows as the excess at small sizes (docs/performance.md).
//
//   tsx bench/scale.ts [--sizes 128x128,256x128,128x512,256x512] [--rows 4] [--steps 11] [--json]
// A size is WIDTHxTOKENS; `--rows` sequences per step (4: one of the bench's two replicas).
import { parseArgs } from 'node:util';
import { ConfigError, describeBackend, initBackend, tf, type Tensor2D } from '@moderoute/core';
import { MODEL_IDS, createContainer, type LanguageModelConfig } from '@moderoute/model';
import { VARIANTS, createBenchOptimizer } from '../src/bench/config.js';
import { median } from '../src/bench/variant.js';

interface SizeReport {
  width: number;
  tokens: number;
  denseMs: number;
  modMs: number;
  modOverDense: number;
  analytic: number;
  overAnalytic: number;
}

/** A model of `variant` at `width` and `tokens`, stepping on random bytes; returns the step. */
function stepper(variant: string, width: number, tokens: number, rows: number) {
  const factory = createContainer().get(MODEL_IDS.ModelFactory);
  const config: LanguageModelConfig = { ...VARIANTS[variant]!, width, contextLength: tokens };
  const model = factory.create(config);
  const optimizer = createBenchOptimizer('adamw', model.trainableParameters());
  const batch = tf.randomUniform([rows, tokens + 1], 0, 256, 'int32', 7);
  const inputs = tf.slice(batch, [0, 0], [rows, tokens]) as Tensor2D;
  const targets = tf.slice(batch, [0, 1], [rows, tokens]) as Tensor2D;
  let step = 0;
  return {
    flops: model.flops(tokens).training,
    step: () => {
      const start = performance.now();
      const { value, grads } = tf.variableGrads(
        () => model.loss(inputs, targets, { training: true, step: step++ }).loss,
        model.trainableVariables(),
      );
      optimizer.apply(grads);
      tf.dispose(grads);
      value.dataSync();
      value.dispose();
      return performance.now() - start;
    },
    dispose: () => {
      optimizer.dispose();
      model.dispose();
      tf.dispose([batch, inputs, targets]);
    },
  };
}

function measure(width: number, tokens: number, rows: number, steps: number): SizeReport {
  const [dense, mod] = ['dense', 'mod'].map((v) => stepper(v, width, tokens, rows)) as [
    ReturnType<typeof stepper>,
    ReturnType<typeof stepper>,
  ];
  try {
    const times: [number[], number[]] = [[], []];
    for (let i = 0; i < steps + 2; i++) {
      const d = dense.step();
      const m = mod.step();
      if (i < 2) continue;
      times[0].push(d);
      times[1].push(m);
    }
    const modOverDense = median(times[1].map((m, i) => m / times[0][i]!));
    const analytic = mod.flops / dense.flops;
    return {
      width,
      tokens,
      denseMs: median(times[0]),
      modMs: median(times[1]),
      modOverDense,
      analytic,
      overAnalytic: modOverDense / analytic,
    };
  } finally {
    dense.dispose();
    mod.dispose();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '128x128,256x128,128x512,256x512' },
      rows: { type: 'string', default: '4' },
      steps: { type: 'string', default: '11' },
      json: { type: 'boolean', default: false },
    },
  });
  const sizes = values.sizes.split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m || Number(m[1]) % 4 !== 0)
      throw new ConfigError('--sizes', s, 'WIDTHxTOKENS, the width a multiple of the 4 heads');
    return [Number(m[1]), Number(m[2])] as const;
  });
  const rows = Number(values.rows);
  const steps = Number(values.steps);
  if (!Number.isInteger(rows) || rows < 1)
    throw new ConfigError('--rows', values.rows, 'an integer >= 1');
  if (!Number.isInteger(steps) || steps < 1)
    throw new ConfigError('--steps', values.steps, 'an integer >= 1');
  const info = await initBackend({ backend: 'wasm', threads: 1 });
  const reports: SizeReport[] = [];
  for (const [width, tokens] of sizes) {
    const r = measure(width, tokens, rows, steps);
    reports.push(r);
    if (!values.json)
      console.log(
        `width ${width}, ${tokens} tokens: dense ${r.denseMs.toFixed(1)} ms, MoD ${r.modMs.toFixed(1)} ms, ` +
          `MoD/dense ${r.modOverDense.toFixed(3)} (analytic ${r.analytic.toFixed(3)}): ` +
          `${r.overAnalytic.toFixed(3)}x the analytic ratio`,
      );
  }
  if (values.json)
    console.log(JSON.stringify({ backend: describeBackend(info), rows, steps, reports }));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = error instanceof ConfigError ? 2 : 1;
});
