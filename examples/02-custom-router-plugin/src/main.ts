// Runs example 2: trains the model with the plugin router, then with the built-in token-choice
// router, and prints both: `pnpm start [tiny|full]`.
import 'reflect-metadata';
import { ConfigError, describeBackend, initBackend } from '@moderoute/core';
import { formatTable, trainWithPlugin, type Size } from './trainWithPlugin.js';

const size = (process.argv[2] ?? 'full') as Size;
if (size !== 'tiny' && size !== 'full') throw new ConfigError('size', size, '"tiny" or "full"');
console.log(`backend: ${describeBackend(await initBackend())}; size ${size}`);
console.log(formatTable(await trainWithPlugin({ size })));
