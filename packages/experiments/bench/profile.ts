// `pnpm bench:profile`: where one training step's time goes, per kernel, at the bench config.
// Runs tf.profile around a few training steps of one variant and prints kernel time grouped by
// kernel name and by (kernel, input shapes), with the untimed remainder (dispatch, tape, JS).
//
//   tsx bench/profile.ts [--variant dense] [--optimizer adamw|adam] [--backend wasm] [--threads N]
//                        [--batch 8] [--steps 3] [--top 25] [--own-kernels on|off] [--json]
// `--batch 4 --threads 1` profiles what one of two data-parallel replicas runs. `--own-kernels`
// switches core's own wasm kernels (default: on, unless MODEROUTE_OWN_KERNELS=0).
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import {
  ConfigError,
  describeBackend,
  initBackend,
  ownKernelsOn,
  setOwnKernels,
  tf,
  type Tensor2D,
} from '@moderoute/core';
import {
  MODEL_IDS,
  createContainer,
  foldRouterStatistics,
  routerStatisticsOf,
  type ModelStatistics,
} from '@moderoute/model';
import {
  BATCH,
  OPTIMIZERS,
  SEQ,
  VARIANTS,
  createBenchOptimizer,
  type OptimizerName,
} from '../src/bench/config.js';

interface Group {
  ms: number;
  calls: number;
}

function add(map: Map<string, Group>, key: string, ms: number): void {
  const g = map.get(key) ?? { ms: 0, calls: 0 };
  g.ms += ms;
  g.calls += 1;
  map.set(key, g);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      variant: { type: 'string', default: 'dense' },
      optimizer: { type: 'string', default: 'adamw' },
      backend: { type: 'string', default: 'wasm' },
      threads: { type: 'string' },
      batch: { type: 'string', default: String(BATCH) },
      steps: { type: 'string', default: '3' },
      top: { type: 'string', default: '25' },
      'own-kernels': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const config = VARIANTS[values.variant as string];
  if (config === undefined)
    throw new Error(
      `--variant (${values.variant}) must be one of ${Object.keys(VARIANTS).join(', ')}`,
    );
  const steps = Number(values.steps);
  const rows = Number(values.batch);
  if (!Number.isInteger(rows) || rows < 1)
    throw new Error(`--batch (${values.batch}) must be a positive integer`);
  const ownKernels = values['own-kernels'];
  if (ownKernels !== undefined && ownKernels !== 'on' && ownKernels !== 'off')
    throw new ConfigError('--own-kernels', ownKernels, 'one of on, off');
  if (ownKernels !== undefined) setOwnKernels(ownKernels === 'on');
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  const info = await initBackend({
    backend: values.backend ?? 'wasm',
    ...(threads === undefined ? {} : { threads }),
  });
  // The per-output NaN check reads every kernel's output back; it is not part of a real step.
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  const model = createContainer().get(MODEL_IDS.ModelFactory).create(config);
  if (!OPTIMIZERS.includes(values.optimizer as OptimizerName))
    throw new Error(`--optimizer (${values.optimizer}) must be one of ${OPTIMIZERS.join(', ')}`);
  const optimizer = createBenchOptimizer(
    values.optimizer as OptimizerName,
    model.trainableParameters(),
  );
  const batch = tf.randomUniform([rows, SEQ + 1], 0, 256, 'int32', 7);
  const inputs = tf.slice(batch, [0, 0], [rows, SEQ]) as Tensor2D;
  const targets = tf.slice(batch, [0, 1], [rows, SEQ]) as Tensor2D;
  const vars = model.trainableVariables();
  // A training step as the Trainer's: randomness keyed by the step, the MoD cuts folded after.
  let done = 0;
  const step = () => {
    let statistics: ModelStatistics = {};
    const { value, grads } = tf.variableGrads(() => {
      const r = model.loss(inputs, targets, { training: true, step: done });
      statistics = routerStatisticsOf(model, r.routing);
      return r.loss;
    }, vars);
    optimizer.apply(grads);
    tf.dispose(grads);
    foldRouterStatistics(model, [statistics]);
    done += 1;
    value.dataSync();
    value.dispose();
  };
  step();
  step();
  const byName = new Map<string, Group>();
  const byShape = new Map<string, Group>();
  let wall = 0;
  let kernelMs = 0;
  let peakBytes = 0;
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    const profile = await tf.profile(step);
    wall += performance.now() - start;
    // Tensor bytes alive at the step's high point, over what was alive before it (model, optimizer state, batch).
    peakBytes = Math.max(peakBytes, profile.peakBytes);
    for (const k of profile.kernels) {
      // customGrad wrappers are recorded too, around the kernels they run: count kernels only.
      if (tf.getKernel(k.name, tf.getBackend()) === undefined) continue;
      const ms = k.kernelTimeMs as number;
      kernelMs += ms;
      add(byName, k.name, ms);
      add(byShape, `${k.name} ${k.inputShapes.map((s) => JSON.stringify(s)).join(' ')}`, ms);
    }
  }
  optimizer.dispose();
  model.dispose();
  tf.dispose([batch, inputs, targets]);
  const perStep = (m: Map<string, Group>) =>
    [...m.entries()]
      .map(([key, g]) => ({ key, ms: g.ms / steps, calls: g.calls / steps }))
      .sort((a, b) => b.ms - a.ms);
  const names = perStep(byName);
  const shapes = perStep(byShape).slice(0, Number(values.top));
  const report = {
    backend: describeBackend(info),
    variant: values.variant,
    ownKernels: ownKernelsOn(),
    profiledWallMsPerStep: wall / steps,
    kernelMsPerStep: kernelMs / steps,
    peakStepTensorMb: peakBytes / 2 ** 20,
    byKernel: names,
    byKernelAndShape: shapes,
  };
  if (values.json) {
    console.log(JSON.stringify(report));
    return;
  }
  const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
  console.log(
    `${report.backend}; variant ${report.variant}; own kernels ` +
      `${report.ownKernels ? 'on' : 'off'}; profiled step ` +
      `${report.profiledWallMsPerStep.toFixed(1)} ms wall, ` +
      `${report.kernelMsPerStep.toFixed(1)} ms in kernels; step's peak tensor memory ` +
      `${report.peakStepTensorMb.toFixed(1)} MB`,
  );
  const t = new Table({ head: ['kernel', 'ms/step', 'of kernel time', 'calls/step'], ...style });
  for (const r of names)
    t.push([
      r.key,
      r.ms.toFixed(2),
      `${((100 * r.ms) / report.kernelMsPerStep).toFixed(1)}%`,
      String(r.calls),
    ]);
  console.log(t.toString());
  const s = new Table({
    head: ['kernel, input shapes', 'ms/step', 'of kernel time', 'calls/step'],
    ...style,
  });
  for (const r of shapes)
    s.push([
      r.key,
      r.ms.toFixed(2),
      `${((100 * r.ms) / report.kernelMsPerStep).toFixed(1)}%`,
      String(r.calls),
    ]);
  console.log(s.toString());
}

main().catch((error: unknown) => {
  // A bad option gets its message alone (exit 2); anything else its stack.
  const usage = error instanceof ConfigError;
  console.error(usage ? error.message : error instanceof Error ? error.stack : error);
  process.exitCode = usage ? 2 : 1;
});
