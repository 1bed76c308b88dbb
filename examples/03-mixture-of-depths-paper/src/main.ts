// Runs example 3 and prints the comparison and the report's path: `pnpm start [demo|tiny] [out dir]`.
import 'reflect-metadata';
import { ConfigError, describeBackend, initBackend } from '@moderoute/core';
import { formatTable, reproducePaper, type Size } from './paper.js';

const size = (process.argv[2] ?? 'demo') as Size;
const outDir = process.argv[3];
if (size !== 'tiny' && size !== 'demo') throw new ConfigError('size', size, '"demo" or "tiny"');
console.log(`backend: ${describeBackend(await initBackend())}; size ${size}`);
const result = await reproducePaper({
  size,
  ...(outDir !== undefined ? { outDir } : {}),
  onRunStart: ({ variant, index, count, totalSteps }) =>
    console.error(`[${index + 1}/${count}] ${variant}: ${totalSteps} steps`),
  onRunEnd: (row, { skipped }) =>
    console.error(
      `  ${row.variant}: ${skipped ? 'already finished' : `done in ${row.wallSeconds.toFixed(1)} s`}`,
    ),
});
console.log(formatTable(result));
console.log(`report: ${result.paths?.report ?? '(not written: interrupted)'}`);
