// Runs example 1 and prints the comparison: `pnpm start [tiny|full] [config|binding]`.
import 'reflect-metadata';
import { ConfigError, describeBackend, initBackend } from '@moderoute/core';
import { formatTable, swapRouters, type Size } from './swapRouters.js';

const size = (process.argv[2] ?? 'full') as Size;
const swap = (process.argv[3] ?? 'config') as 'config' | 'binding';
if (size !== 'tiny' && size !== 'full') throw new ConfigError('size', size, '"tiny" or "full"');
if (swap !== 'config' && swap !== 'binding')
  throw new ConfigError('swap', swap, '"config" or "binding"');
console.log(
  `backend: ${describeBackend(await initBackend())}; size ${size}; swap by ` +
    `${swap === 'config' ? 'config field' : 'container binding'}`,
);
const results = await swapRouters({
  size,
  swap,
  onResult: (r) => console.error(`trained ${r.scheme} in ${r.wallSeconds.toFixed(1)} s`),
});
console.log(formatTable(results));
