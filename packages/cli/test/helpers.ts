// What the CLI specs share: the command line run in-process with its output captured.
import { main, type Io } from '../src/index.js';

/** Runs `moderoute ...args` in this process: the exit code and what went to stdout and stderr. */
export async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), write: (s) => out.push(s) };
  const code = await main(['node', 'moderoute', ...args], io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** A tiny model on the wasm backend: the flags most CLI specs train with. */
export const TINY_MODEL: readonly string[] = [
  '--width',
  '16',
  '--layers',
  '2',
  '--heads',
  '2',
  '--context',
  '16',
  '--batch-size',
  '2',
  '--backend',
  'wasm',
];
