// `pnpm bench:kernels`: each of core's own wasm kernels against the tfjs path it replaces, on the
// bench's shapes (the cases: bench/kernels/cases.ts). In each round every case runs `--calls`
// calls (forward + backward of its primitive) with the own kernels on and as many with them off,
// the order alternating between rounds, so that a busy host slows both alike; the figures are
// medians and ranges over the rounds, the own/tfjs ratio taken round by round.
//
//   pnpm bench:kernels [--rounds 9] [--calls 50] [--threads 1] [--only layerNorm,...] [--json]
//
// One thread by default: own kernels run on the calling thread, as in each data-parallel replica.
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { ConfigError, describeBackend, initBackend, setOwnKernels, tf } from '@moderoute/core';
import { spreadOf, type Spread } from '../src/bench/passes.js';
import { CASES, type KernelCase } from './kernels/cases.js';

/** One case's figures: ms per call with the own kernel and with the tfjs path, and their ratio. */
interface CaseReport {
  kernel: string;
  shape: string;
  ownMs: Spread;
  tfjsMs: Spread;
  /** Own over tfjs, round by round. */
  ownOverTfjs: Spread;
}

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(name, value, 'an integer >= 1');
  return n;
}

/** ms per call of `calls` calls of `call`, its results disposed (wasm runs kernels synchronously). */
function timeCalls(call: () => tf.TensorContainer, calls: number): number {
  const start = performance.now();
  for (let i = 0; i < calls; i++) tf.dispose(call());
  return (performance.now() - start) / calls;
}

/** Runs `cases` in interleaved rounds; returns each case's figures. */
function benchKernels(cases: readonly KernelCase[], rounds: number, calls: number): CaseReport[] {
  const built = cases.map((c) => ({ c, ...c.setup(), own: [] as number[], tfjs: [] as number[] }));
  try {
    // One warm-up call of each path (module instantiation, first-call allocations).
    for (const b of built)
      for (const on of [true, false]) {
        setOwnKernels(on);
        timeCalls(b.call, 1);
      }
    for (let r = 0; r < rounds; r++)
      for (const b of built)
        for (const on of r % 2 === 0 ? [true, false] : [false, true]) {
          setOwnKernels(on);
          (on ? b.own : b.tfjs).push(timeCalls(b.call, calls));
        }
  } finally {
    setOwnKernels(undefined);
    for (const b of built) b.dispose();
  }
  return built.map((b) => ({
    kernel: b.c.kernel,
    shape: b.c.shape,
    ownMs: spreadOf(b.own),
    tfjsMs: spreadOf(b.tfjs),
    ownOverTfjs: spreadOf(b.own.map((ms, i) => ms / b.tfjs[i]!)),
  }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '9' },
      calls: { type: 'string', default: '50' },
      threads: { type: 'string', default: '1' },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const rounds = positive('--rounds', values.rounds);
  const calls = positive('--calls', values.calls);
  const threads = positive('--threads', values.threads);
  const kernels = [...new Set(CASES.map((c) => c.kernel))];
  const only = values.only?.split(',');
  for (const k of only ?? [])
    if (!kernels.includes(k)) throw new ConfigError('--only', k, `among ${kernels.join(', ')}`);
  const info = await initBackend({ backend: 'wasm', threads });
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  const cases = CASES.filter((c) => only === undefined || only.includes(c.kernel));
  setOwnKernels(true);
  const missing = cases.filter((c) => !c.serves()).map((c) => c.kernel);
  if (missing.length > 0)
    throw new Error(
      `the own kernels of ${[...new Set(missing)].join(', ')} do not serve ` +
        `${describeBackend(info)} (is the tree built? node packages/core/scripts/build-wasm-kernels.mjs)`,
    );
  if (!values.json)
    console.error(`${describeBackend(info)}: ${rounds} rounds of ${calls} calls per path ...`);
  const report = {
    backend: describeBackend(info),
    rounds,
    calls,
    cases: benchKernels(cases, rounds, calls),
  };
  if (values.json) {
    console.log(JSON.stringify(report));
    return;
  }
  const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
  const range = (s: Spread, digits: number) =>
    `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`;
  const t = new Table({
    head: ['kernel (fwd+bwd)', 'shape', 'own ms', 'tfjs ms', 'own / tfjs, round by round'],
    ...style,
  });
  for (const c of report.cases)
    t.push([c.kernel, c.shape, range(c.ownMs, 3), range(c.tfjsMs, 3), range(c.ownOverTfjs, 2)]);
  console.log(`${report.backend}; medians (ranges) over ${rounds} interleaved rounds`);
  console.log(t.toString());
}

main().catch((error: unknown) => {
  // A bad option gets its message alone (exit 2); anything else its stack.
  const usage = error instanceof ConfigError;
  console.error(usage ? error.message : error instanceof Error ? error.stack : error);
  process.exitCode = usage ? 2 : 1;
});
