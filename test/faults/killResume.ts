// Fault injection: train a tiny model with `moderoute train` in child processes, kill it with
// SIGKILL at random moments (while it starts, between steps, and inside checkpoint writes, which
// MODEROUTE_TEST_FAULTS slows down to widen that window), start it again each time, and check
// that the finished run's metrics.jsonl holds exactly (bit for bit) the losses and evaluations of
// an uninterrupted run, and that nothing is left behind (temporaries, the lock).
//
// Used by test/faults.spec.ts (a few kills) and test/faults/kill-resume.ts (many, by hand).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../packages/cli/src/bin.ts', import.meta.url));

/** Where a kill lands. */
export type KillMoment = 'start' | 'step' | 'write';

export interface KillResumeOptions {
  /** A fresh directory for the two runs. */
  readonly dir: string;
  /** SIGKILLs to send to the interrupted run (fewer if the run finishes first). */
  readonly kills: number;
  /** Steps of the run (default 40). */
  readonly steps?: number;
  /** --checkpoint-every (default 3). */
  readonly checkpointEvery?: number;
  /** Seed of the kill schedule (default 1). */
  readonly seed?: number;
  /** Delay per checkpoint file write in the killed run, in ms (default 40). */
  readonly writeDelayMs?: number;
  /** Where each kill lands (default: drawn at random, half of them inside checkpoint writes). */
  readonly moments?: readonly KillMoment[];
  readonly log?: (line: string) => void;
}

export interface KillResumeReport {
  /** SIGKILLs sent. */
  readonly kills: number;
  /** Kills that left a checkpoint temp directory behind (landed inside a checkpoint write). */
  readonly killsInsideWrites: number;
  /** Kills per moment aimed at. */
  readonly aimed: Readonly<Record<KillMoment, number>>;
  /** Starts of the killed run that found a stale lock (of the process killed before). */
  readonly staleLocks: number;
  /** Processes started in all (the reference run included). */
  readonly starts: number;
  readonly steps: number;
  /** Whether every step and evaluation record equals the uninterrupted run's. */
  readonly identical: boolean;
  /** The first record that differs, when one does. */
  readonly difference?: string;
  /** Temporaries or a lock left after the final run (should be empty). */
  readonly leftovers: readonly string[];
}

/** A small seeded generator (mulberry32) for the kill schedule. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The records that must match: everything but wall-clock throughput. */
function records(out: string): string[] {
  const path = join(out, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const { tokensPerSecond: _, ...rest } = JSON.parse(line) as Record<string, unknown>;
      return JSON.stringify(rest);
    });
}

const loggedSteps = (out: string) =>
  records(out).filter((r) => r.startsWith('{"kind":"step"')).length;

const temporaries = (out: string) => {
  const root = join(out, 'checkpoints');
  return existsSync(root)
    ? readdirSync(root).filter((e) => e.includes('.tmp-') || e.includes('.replaced-'))
    : [];
};

interface Started {
  readonly pid: number;
  readonly kill: () => void;
  /** The exit code (null when killed), once it exits. */
  readonly exit: Promise<number | null>;
  readonly exited: () => boolean;
  readonly stderr: () => string;
}

function startTrain(
  out: string,
  options: Required<Pick<KillResumeOptions, 'steps' | 'checkpointEvery'>>,
  faults?: object,
): Started {
  const args = [
    'train',
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
    '--variant',
    'mod-every-other',
  ];
  args.push(
    '--steps',
    String(options.steps),
    '--checkpoint-every',
    String(options.checkpointEvery),
    '--eval-every',
    '5',
    '--eval-windows',
    '2',
  );
  args.push('--backend', 'wasm', '--threads', '1', '--replicas', '1', '--out', out, '--json');
  const env = { ...process.env };
  if (faults !== undefined) env['MODEROUTE_TEST_FAULTS'] = JSON.stringify(faults);
  else delete env['MODEROUTE_TEST_FAULTS'];
  const child = spawn(
    process.execPath,
    ['--conditions=@moderoute/source', '--import', 'tsx', BIN, ...args],
    { stdio: ['ignore', 'ignore', 'pipe'], env },
  );
  let err = '';
  let done = false;
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      done = true;
      r(code);
    }),
  );
  return {
    pid: child.pid!,
    kill: () => child.kill('SIGKILL'),
    exit,
    exited: () => done,
    stderr: () => err,
  };
}

/** Runs the uninterrupted and the killed run and compares them (see the file header). */
export async function killResume(options: KillResumeOptions): Promise<KillResumeReport> {
  const run = { steps: options.steps ?? 40, checkpointEvery: options.checkpointEvery ?? 3 };
  const random = rng(options.seed ?? 1);
  const delayMs = options.writeDelayMs ?? 40;
  const log = options.log ?? (() => {});
  mkdirSync(options.dir, { recursive: true });
  const reference = join(options.dir, 'reference');
  const killed = join(options.dir, 'killed');
  let starts = 0;

  const ref = startTrain(reference, run);
  starts++;
  const refCode = await ref.exit;
  if (refCode !== 0)
    throw new Error(`the uninterrupted run exited with ${refCode}: ${ref.stderr()}`);

  let kills = 0;
  let killsInsideWrites = 0;
  let staleLocks = 0;
  const aimed: Record<KillMoment, number> = { start: 0, step: 0, write: 0 };
  while (kills < options.kills) {
    if (existsSync(join(killed, 'moderoute.lock'))) staleLocks++;
    const moment: KillMoment =
      options.moments?.[kills % options.moments.length] ??
      (random() < 0.5 ? 'write' : random() < 0.8 ? 'step' : 'start');
    const child = startTrain(killed, run, { delayMs });
    starts++;
    const before = loggedSteps(killed);
    const wanted = before + Math.floor(random() * 4);
    const startedAt = Date.now();
    const startDelay = random() * 4000;
    // Poll for the moment; the child may finish first (then the run is complete).
    for (;;) {
      if (child.exited()) break;
      if (moment === 'start' && Date.now() - startedAt >= startDelay) break;
      if (moment === 'step' && loggedSteps(killed) > wanted) break;
      if (moment === 'write' && temporaries(killed).some((e) => e.startsWith('ckpt-'))) {
        await sleep(random() * 4 * delayMs);
        break;
      }
      await sleep(moment === 'write' ? 2 : 10);
    }
    if (child.exited()) {
      const code = await child.exit;
      if (code !== 0)
        throw new Error(`the killed run exited with ${code} by itself: ${child.stderr()}`);
      log(`the run finished after ${kills} kills`);
      break;
    }
    child.kill();
    await child.exit;
    kills++;
    aimed[moment]++;
    const left = temporaries(killed);
    if (left.some((e) => e.startsWith('ckpt-'))) killsInsideWrites++;
    log(
      `kill ${kills} (${moment}): ${loggedSteps(killed)} steps logged${left.length ? `, left ${left.join(' ')}` : ''}`,
    );
  }

  // Finish the run: resumes from its newest complete checkpoint.
  if (existsSync(join(killed, 'moderoute.lock'))) staleLocks++;
  const last = startTrain(killed, run);
  starts++;
  const code = await last.exit;
  if (code !== 0) throw new Error(`the final run exited with ${code}: ${last.stderr()}`);

  const want = records(reference);
  const got = records(killed);
  let difference: string | undefined;
  for (let i = 0; i < Math.max(want.length, got.length); i++) {
    if (want[i] !== got[i]) {
      difference = `record ${i + 1}: uninterrupted ${want[i] ?? '(none)'}, killed ${got[i] ?? '(none)'}`;
      break;
    }
  }
  const leftovers = [
    ...temporaries(killed),
    ...readdirSync(killed).filter((e) => e.includes('.tmp-') || e === 'moderoute.lock'),
  ];
  return {
    kills,
    killsInsideWrites,
    aimed,
    staleLocks,
    starts,
    steps: run.steps,
    identical: difference === undefined,
    ...(difference !== undefined ? { difference } : {}),
    leftovers,
  };
}
