// Runs example 4 and prints the equal-FLOP comparison: `pnpm start [tiny|full]`.
import 'reflect-metadata';
import { ConfigError, describeBackend, initBackend } from '@moderoute/core';
import { compareAtEqualFlops, formatTable, type Size } from './isoFlop.js';

const size = (process.argv[2] ?? 'full') as Size;
if (size !== 'tiny' && size !== 'full') throw new ConfigError('size', size, '"tiny" or "full"');
console.log(`backend: ${describeBackend(await initBackend())}; size ${size}`);
const { budget, results } = await compareAtEqualFlops({
  size,
  onResult: (r) =>
    console.error(`trained ${r.variant}: ${r.steps} steps in ${r.wallSeconds.toFixed(1)} s`),
});
console.log(formatTable(budget, results));
