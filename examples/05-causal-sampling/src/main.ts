// Runs example 5 and prints the agreement, a sample and the decode speed-up: `pnpm start [tiny|full] [out dir]`
// (with an out dir, the two runs' checkpoints are kept there).
import 'reflect-metadata';
import { ConfigError, describeBackend, initBackend } from '@moderoute/core';
import { causalSampling, formatReport, type Size } from './causalSampling.js';

const size = (process.argv[2] ?? 'full') as Size;
const outDir = process.argv[3];
if (size !== 'tiny' && size !== 'full') throw new ConfigError('size', size, '"tiny" or "full"');
console.log(`backend: ${describeBackend(await initBackend())}; size ${size}`);
const result = await causalSampling({
  size,
  ...(outDir !== undefined ? { outDir } : {}),
  onTrained: (variant, r) =>
    console.error(`trained ${variant}: ${r.step} steps in ${r.wallSeconds.toFixed(1)} s`),
  onSampleText: (text) => process.stderr.write(text),
});
console.error('');
console.log(formatReport(result));
