// The command in child processes: SIGTERM and SIGHUP save like Ctrl-C, and a second command on
// a run directory in use is refused with the holder's pid.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { TINY_MODEL } from './helpers.js';

const BIN = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const TINY = [...TINY_MODEL, '--threads', '1', '--replicas', '1'];

interface Child {
  readonly process: ChildProcess;
  readonly stderr: () => string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every child started, killed after each test whatever happened. */
const children: ChildProcess[] = [];

function start(...args: string[]): Child {
  const child = spawn(
    process.execPath,
    ['--conditions=@moderoute/source', '--import', 'tsx', BIN, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  return { process: child, stderr: () => err, exit };
}

/** The steps logged in a run's metrics.jsonl. */
function loggedSteps(out: string): number {
  const path = join(out, 'metrics.jsonl');
  if (!existsSync(path)) return 0;
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{"kind":"step"')).length;
}

/** Resolves once the run has logged more than `steps` steps (polling its log). */
async function trainedPast(out: string, steps: number, child: Child): Promise<void> {
  let done = false;
  void child.exit.then(() => (done = true));
  while (loggedSteps(out) <= steps) {
    if (done) throw new Error(`train exited early: ${child.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const checkpointSteps = (out: string) =>
  existsSync(join(out, 'checkpoints'))
    ? readdirSync(join(out, 'checkpoints'))
        .filter((e) => /^ckpt-\d+$/.test(e))
        .map((e) => Number(e.slice(5)))
    : [];

describe('moderoute in a child process', function () {
  this.timeout(600_000); // three process starts; the machine may be busy
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'moderoute-signals-'));
  });
  afterEach(() => {
    for (const child of children.splice(0))
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(
    'should refuse a second train on a run directory in use (exit 2, naming the ' +
      'pid), then save and exit 143 on SIGTERM and 129 on SIGHUP',
    async () => {
      const out = join(dir, 'run');
      const first = start('train', ...TINY, '--steps', '100000', '--out', out);
      await trainedPast(out, 0, first);
      const second = start('train', ...TINY, '--variant', 'dense', '--steps', '20', '--out', out);
      const refused = await second.exit;
      assert.equal(refused.code, 2, second.stderr());
      assert.match(
        second.stderr(),
        new RegExp(`LockError: run directory .*run is in use by pid ${first.process.pid} on host `),
      );
      assert.deepEqual(checkpointSteps(out), [], 'the refused run wrote nothing');

      first.process.kill('SIGTERM');
      const stopped = await first.exit;
      assert.equal(stopped.code, 143, first.stderr());
      assert.match(first.stderr(), /SIGTERM: finishing the current step and saving a checkpoint/);
      const saved = checkpointSteps(out);
      assert.equal(saved.length, 1);
      assert.ok(
        saved[0]! >= 1 && saved[0]! === loggedSteps(out),
        `checkpoint ${saved[0]} after ${loggedSteps(out)} logged steps`,
      );
      assert.ok(!existsSync(join(out, 'moderoute.lock')));

      const again = start('train', ...TINY, '--steps', '100000', '--out', out);
      await trainedPast(out, saved[0]!, again);
      again.process.kill('SIGHUP');
      const hungUp = await again.exit;
      assert.equal(hungUp.code, 129, again.stderr());
      assert.match(again.stderr(), /resuming at step \d+/);
      assert.ok(Math.max(...checkpointSteps(out)) > saved[0]!);
    },
  );
});
