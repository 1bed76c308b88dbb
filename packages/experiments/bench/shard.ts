// `bench/shard.ts`: one replica's share of a training step, variant against variant. Times the
// forward and backward pass (no optimizer) of each variant at a given number of rows on one
// thread, interleaved step by step so that the machine's load falls on all of them alike, and
// prints the medians with each variant's time and analytic FLOPs over dense's. With 2 replicas
// of the bench's batch of 8, each replica runs 4 rows: `--rows 4` is what a replica computes.
// `--capacities 0.0078125,0.25` adds the MoD variant at those capacities (`mod@<c>`): at one
// token a sequence (1/128) a routed block's compute is nearly nothing, so what MoD pays over its
// analytic ratio there is the routed blocks' cost that does not scale with tokens
// (docs/performance.md, round 12). `--sibling` times every variant alone and beside a second
// replica in alternate rounds: another process stepping dense on the other core, paused and
// resumed round by round (sibling.ts), as a data-parallel step's rows run beside the other
// replica's (docs/performance.md, round 13).
//
//   tsx bench/shard.ts [--variants dense,mod] [--capacities C,...] [--rows 4] [--steps 20]
//     [--threads 1] [--sibling] [--json]
import { parseArgs } from 'node:util';
import { describeBackend, initBackend, tf } from '@moderoute/core';
import { MODEL_IDS, createContainer, type LanguageModelConfig } from '@moderoute/model';
import { SEQ, VARIANTS, modAtCapacity } from '../src/bench/config.js';
import { forwardBackward, replicaBatch } from './replicaStep.js';
import { startSibling, type Sibling } from './sibling.js';

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`--${name} (${value}) must be a positive integer`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      variants: { type: 'string', default: 'dense,mod' },
      capacities: { type: 'string', default: '' },
      rows: { type: 'string', default: '4' },
      steps: { type: 'string', default: '20' },
      threads: { type: 'string', default: '1' },
      sibling: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const names = (values.variants as string).split(',');
  for (const name of names)
    if (VARIANTS[name] === undefined)
      throw new Error(`--variants: ${name} is not one of ${Object.keys(VARIANTS).join(', ')}`);
  if (!names.includes('dense')) names.unshift('dense');
  const configs: Record<string, LanguageModelConfig> = { ...VARIANTS };
  for (const text of (values.capacities as string).split(',').filter((c) => c !== '')) {
    const capacity = Number(text);
    if (!(capacity > 0 && capacity <= 1))
      throw new Error(`--capacities: ${text} is not a capacity in (0, 1]`);
    configs[`mod@${text}`] = modAtCapacity(capacity);
    names.push(`mod@${text}`);
  }
  const rows = positiveInt('rows', values.rows);
  const steps = positiveInt('steps', values.steps);
  const info = await initBackend({
    backend: 'wasm',
    threads: positiveInt('threads', values.threads),
  });
  const models = names.map((name) =>
    createContainer().get(MODEL_IDS.ModelFactory).create(configs[name]!),
  );
  const { inputs, targets } = replicaBatch(rows, 7);
  // Alone: times[v]; beside the sibling (every other round): beside[v].
  const times = names.map(() => [] as number[]);
  const beside = names.map(() => [] as number[]);
  const sibling: Sibling | undefined = values.sibling ? await startSibling(rows) : undefined;
  const warmup = 3;
  try {
    for (let i = 0; i < warmup + (sibling ? 2 : 1) * steps; i++) {
      const busy = sibling !== undefined && i % 2 === 1;
      await sibling?.busy(busy);
      models.forEach((model, v) => {
        const ms = forwardBackward(model, inputs, targets);
        if (i >= warmup) (busy ? beside : times)[v]!.push(ms);
      });
    }
  } finally {
    sibling?.stop();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const flops = models.map((m) => m.flops(SEQ).training * rows);
  // One variant's figures from its steps, against dense's median among the same steps.
  const figures = (all: number[][], v: number) => {
    const ms = median(all[v]!);
    const overDense = ms / median(all[0]!);
    const analyticOverDense = flops[v]! / flops[0]!;
    return {
      msForwardBackward: ms,
      overDense,
      analyticOverDense,
      overAnalytic: overDense / analyticOverDense,
    };
  };
  const report = {
    backend: describeBackend(info),
    rows,
    steps,
    variants: Object.fromEntries(
      names.map((name, v) => [
        name,
        {
          ...figures(times, v),
          // Beside a second replica: its figures, and its step over its step alone.
          ...(sibling
            ? {
                beside: {
                  ...figures(beside, v),
                  overAlone: median(beside[v]!) / median(times[v]!),
                },
              }
            : {}),
        },
      ]),
    ),
  };
  models.forEach((m) => m.dispose());
  tf.dispose([inputs, targets]);
  if (values.json) {
    console.log(JSON.stringify(report));
    return;
  }
  const how = sibling ? ', alone and beside a busy sibling process in alternate rounds' : '';
  console.log(
    `${report.backend}; ${rows} rows of ${SEQ}, forward and backward, ` +
      `median of ${steps} interleaved steps${how}`,
  );
  const line = (name: string, r: ReturnType<typeof figures>, tail = '') =>
    console.log(
      `  ${name.padEnd(16)} ${r.msForwardBackward.toFixed(1).padStart(7)} ms  x dense ` +
        `${r.overDense.toFixed(3)}  analytic ${r.analyticOverDense.toFixed(3)}  over ` +
        `analytic ${r.overAnalytic.toFixed(2)}x${tail}`,
    );
  for (const [name, r] of Object.entries(report.variants)) {
    line(name, r);
    if ('beside' in r && r.beside)
      line('  beside', r.beside, `  (${r.beside.overAlone.toFixed(3)} of alone)`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exitCode = 1;
});
