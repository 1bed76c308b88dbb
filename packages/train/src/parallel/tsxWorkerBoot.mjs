// Starts a TypeScript worker entry when moderoute runs from its sources (tsx, the
// `@moderoute/source` condition): loader hooks registered in the main thread do not reach
// worker threads on Node 20, so the worker registers tsx itself, then imports the entry.
// Built packages (dist/) start their .js entries directly and never load this file.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register(process.env.TSX_TSCONFIG_PATH ? { tsconfig: process.env.TSX_TSCONFIG_PATH } : {});
await import(workerData.entry);
