// A busy neighbour for `bench/shard.ts --sibling`: another process training replica steps of the
// dense variant on the other core, paused (SIGSTOP) and resumed (SIGCONT) round by round, so that
// every variant is timed alone and beside a second replica in alternate rounds of one run, and
// the host's drift falls on both alike. That is what a data-parallel step's rows run beside (one
// replica per core): whether a variant's rows slow more than dense's there is the question it
// answers (docs/performance.md, round 13). Run directly (`sibling.ts ROWS`), this file is that
// process: it prints "ready" once warm, then steps until it is killed.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@moderoute/core';
import { MODEL_IDS, createContainer } from '@moderoute/model';
import { VARIANTS } from '../src/bench/config.js';
import { forwardBackward, replicaBatch } from './replicaStep.js';

/** The neighbour process, paused between calls of busy(true) and busy(false). */
export interface Sibling {
  /** Resumes (true) or pauses (false) it, then waits 30 ms for the switch to take. */
  busy(on: boolean): Promise<void>;
  /** Kills it. */
  stop(): void;
}

/** Starts the neighbour, stepping `rows` rows of the dense variant; resolves once it is warm and paused. */
export async function startSibling(rows: number): Promise<Sibling> {
  if (process.platform === 'win32')
    throw new Error('--sibling pauses a process with SIGSTOP, which Windows does not have');
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, self, String(rows)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = () => void child.kill('SIGKILL');
  process.once('exit', stop);
  await new Promise<void>((ready, fail) => {
    child.once('error', fail);
    child.once('exit', (code) =>
      fail(new Error(`the sibling process exited (${code}) before it was ready`)),
    );
    child.stdout!.once('data', () => ready());
  });
  child.kill('SIGSTOP');
  return {
    busy: async (on) => {
      child.kill(on ? 'SIGCONT' : 'SIGSTOP');
      await new Promise((settled) => setTimeout(settled, 30));
    },
    stop,
  };
}

async function serve(rows: number): Promise<void> {
  await initBackend({ backend: 'wasm', threads: 1 });
  const model = createContainer().get(MODEL_IDS.ModelFactory).create(VARIANTS['dense']!);
  const { inputs, targets } = replicaBatch(rows, 11);
  for (let i = 0; ; i++) {
    forwardBackward(model, inputs, targets);
    if (i === 2) process.stdout.write('ready\n');
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  serve(Number(process.argv[2] ?? 4)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exitCode = 1;
  });
