import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, tf } from '@moderoute/core';
import {
  CheckpointError,
  CheckpointStore,
  CorpusCache,
  LOCK_FILE,
  LockError,
  RESUME_FIXED,
  ResumeError,
  RunLock,
  StorageError,
  Trainer,
  readJsonl,
  setWriteFaults,
  type TrainConfig,
} from '../src/index.js';
import { useTempDir } from './helpers.js';

const TINY: TrainConfig = {
  model: {
    width: 16,
    numHeads: 2,
    numLayers: 2,
    contextLength: 16,
    schedule: { pattern: ['dense', 'mod'] },
    blockDefaults: {
      mod: { depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25 } } },
    },
  },
  batchSize: 2,
  steps: 4,
  learningRate: 1e-2,
  warmupSteps: 2,
  evalEvery: 2,
  evalWindows: 4,
  checkpointEvery: 2,
};

/** A pid no process has: above Linux's largest pid_max (4194304). */
const DEAD_PID = 2 ** 22 + 17;

const RUN_LOCK_SOURCE = fileURLToPath(new URL('../src/checkpoint/RunLock.ts', import.meta.url));

/** Every file under a folder (name -> bytes), to check that nothing was written. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string, prefix: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${prefix}${e.name}/`);
      else out.set(`${prefix}${e.name}`, readFileSync(join(d, e.name)).toString('base64'));
    }
  };
  walk(dir, '');
  return out;
}

const stepLosses = (dir: string) =>
  readJsonl(join(dir, 'metrics.jsonl'))
    .filter((r) => r['kind'] === 'step')
    .map((r) => r['loss'] as number);

/** A child process that takes the lock of `dir` and reports "locked"; `then` runs after. */
function lockHolder(dir: string, then = 'setInterval(() => {}, 1000);'): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '--conditions=@moderoute/source',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `const { RunLock } = await import(${JSON.stringify(RUN_LOCK_SOURCE)}); ` +
        `RunLock.acquire(${JSON.stringify(dir)}); console.log('locked'); ${then}`,
    ],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolvePromise, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('locked')) resolvePromise(child);
    });
    child.on('exit', (code) =>
      reject(new Error(`lock holder exited with ${code} before locking: ${err}`)),
    );
  });
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((r) =>
    child.exitCode !== null || child.signalCode !== null
      ? r(child.exitCode)
      : child.on('exit', (code) => r(code)),
  );

describe('Trainer and its run directory', () => {
  const tmp = useTempDir('moderoute-rundir-');
  const corpora = new CorpusCache();
  let base: string;
  before(async () => {
    await initBackend({ backend: 'wasm' });
    base = join(tmp(), 'base');
    await new Trainer(TINY).run({ outDir: base, corpusCache: corpora });
  });
  afterEach(() => setWriteFaults());

  describe('when resuming', () => {
    const changed: Record<(typeof RESUME_FIXED)[number], number> = {
      batchSize: 3,
      seqLen: 8,
      seed: 5,
      learningRate: 2e-2,
      warmupSteps: 1,
      minLrRatio: 0.2,
      beta1: 0.8,
      beta2: 0.9,
      weightDecay: 0,
      clipNorm: 2,
    };
    for (const key of RESUME_FIXED) {
      it(`should refuse another ${key}, naming it and both values, and write nothing`, async () => {
        const before = snapshot(base);
        const trained = (
          JSON.parse(
            readFileSync(join(base, 'checkpoints', 'ckpt-00000004', 'config.json'), 'utf8'),
          ) as { train: Record<string, unknown> }
        ).train[key];
        await assert.rejects(
          new Trainer({ ...TINY, steps: 6, [key]: changed[key] }).run({
            outDir: base,
            corpusCache: corpora,
          }),
          (e: unknown) => {
            assert.ok(e instanceof ResumeError, String(e));
            assert.match(
              e.message,
              new RegExp(
                `${key}( \\(--[a-z-]+\\))? is ${changed[key]} now ` +
                  `but the run was trained with ${String(trained)};`,
              ),
            );
            return true;
          },
        );
        assert.deepEqual(snapshot(base), before);
      });
    }

    it('should refuse other data, naming both fingerprints', async () => {
      const file = join(tmp(), 'other.txt');
      writeFileSync(
        file,
        Array.from(
          { length: 400 },
          (_, i) => `Line ${i}: the quick brown fox jumps over the lazy dog ${i * 7}.\n`,
        ).join(''),
      );
      const before = snapshot(base);
      await assert.rejects(
        new Trainer({ ...TINY, steps: 6, data: { kind: 'path', path: file } }).run({
          outDir: base,
          corpusCache: corpora,
        }),
        (e: unknown) =>
          e instanceof ResumeError &&
          /trained on other data \(fingerprint [\w:]+; data .*other\.txt has [\w:]+\)/.test(
            e.message,
          ),
      );
      assert.deepEqual(snapshot(base), before);
    });

    it('should refuse fewer steps than the run already has, rather than report "step 4/2"', async () => {
      await assert.rejects(
        new Trainer({ ...TINY, steps: 2 }).run({ outDir: base, corpusCache: corpora }),
        (e: unknown) =>
          e instanceof ResumeError &&
          /already holds 4 steps \(.*ckpt-00000004\), more than steps 2: pass --steps 4 or more/.test(
            e.message,
          ),
      );
    });

    it(
      'should honour more steps and another evaluation and ' +
        'checkpoint cadence, keeping every counter right',
      async () => {
        const out = join(tmp(), 'extend');
        const first = await new Trainer(TINY).run({ outDir: out, corpusCache: corpora });
        const perStep = first.trainingFlops / 4;
        const result = await new Trainer({
          ...TINY,
          steps: 9,
          evalEvery: 3,
          evalWindows: 2,
          checkpointEvery: 3,
          checkpointMinutes: 1,
          keepCheckpoints: 5,
        }).run({ outDir: out, corpusCache: corpora });
        assert.equal(result.resumedFrom, 4);
        assert.equal(result.step, 9);
        assert.equal(result.trainingFlops, 9 * perStep);
        assert.equal(result.tokensSeen, 9 * 2 * 16);
        assert.deepEqual(
          result.evals.map((e) => e.step),
          [2, 4, 6, 9],
        );
        assert.deepEqual(
          new CheckpointStore(join(out, 'checkpoints')).list().map((c) => c.step),
          [2, 4, 6, 9],
        );
        const train = (
          JSON.parse(
            readFileSync(join(out, 'checkpoints', 'ckpt-00000009', 'config.json'), 'utf8'),
          ) as { train: Record<string, unknown> }
        ).train;
        assert.deepEqual(
          [
            train['steps'],
            train['evalEvery'],
            train['evalWindows'],
            train['checkpointEvery'],
            train['keepCheckpoints'],
          ],
          [9, 3, 2, 3, 5],
        );
        const flops = readJsonl(join(out, 'metrics.jsonl'))
          .filter((r) => r['kind'] === 'step')
          .map((r) => r['trainingFlops'] as number);
        assert.deepEqual(
          flops,
          Array.from({ length: 9 }, (_, i) => (i + 1) * perStep),
        );
      },
    );

    it('should keep the warm-up a run had when warmupSteps is left to follow steps', async () => {
      const out = join(tmp(), 'warmup');
      const { warmupSteps: _, ...noWarmup } = TINY;
      await new Trainer({ ...noWarmup, steps: 20, checkpointEvery: 10, evalEvery: 0 }).run({
        outDir: out,
        corpusCache: corpora,
        signal: AbortSignal.abort(),
      });
      const result = await new Trainer({
        ...noWarmup,
        steps: 30,
        checkpointEvery: 10,
        evalEvery: 0,
      }).run({ outDir: out, corpusCache: corpora });
      assert.equal(result.resumedFrom, 0);
      const train = (
        JSON.parse(
          readFileSync(join(out, 'checkpoints', 'ckpt-00000030', 'config.json'), 'utf8'),
        ) as { train: Record<string, unknown> }
      ).train;
      assert.equal(train['warmupSteps'], 2); // 10% of the first 20 steps, not of 30
    });
  });

  describe('with resume: false (--no-resume)', () => {
    it("should refuse to overwrite another model's run, naming the difference, and write nothing", async () => {
      const before = snapshot(base);
      await assert.rejects(
        new Trainer({ ...TINY, model: { ...TINY.model, width: 32 } }).run({
          outDir: base,
          corpusCache: corpora,
          resume: false,
        }),
        (e: unknown) =>
          e instanceof ResumeError &&
          new RegExp(
            /--no-resume will not overwrite .*ckpt-0000000[24] holds another model /.source +
              /\(model\.width: 16 in the checkpoint, 32 now\)/.source,
          ).test(e.message),
      );
      assert.deepEqual(snapshot(base), before);
    });

    it("should start the same model's run over, leaving no checkpoint or log line of the old one", async () => {
      const out = join(tmp(), 'again');
      await new Trainer(TINY).run({ outDir: out, corpusCache: corpora });
      const fresh: number[] = [];
      await new Trainer({ ...TINY, steps: 2, seed: 3 }).run({
        outDir: out,
        corpusCache: corpora,
        resume: false,
        onStep: (e) => fresh.push(e.loss),
      });
      assert.deepEqual(
        new CheckpointStore(join(out, 'checkpoints')).list().map((c) => c.step),
        [2],
      );
      assert.deepEqual(stepLosses(out), fresh);
    });
  });

  describe('lock', () => {
    it('should refuse a second run on a directory in use, naming the holder, and let it go afterwards', async () => {
      const out = join(tmp(), 'locked');
      mkdirSync(out, { recursive: true });
      const lock = RunLock.acquire(out);
      try {
        await assert.rejects(
          new Trainer(TINY).run({ outDir: out, corpusCache: corpora }),
          (e: unknown) =>
            e instanceof LockError &&
            new RegExp(
              `${out.replace(/[.]/g, '\\.')} is in use by pid ${process.pid} on host ${hostname()}`,
            ).test(e.message),
        );
        assert.ok(!existsSync(join(out, 'checkpoints')));
      } finally {
        lock.release();
      }
      assert.ok(!existsSync(join(out, LOCK_FILE)));
      const result = await new Trainer({ ...TINY, steps: 2 }).run({
        outDir: out,
        corpusCache: corpora,
      });
      assert.equal(result.stopReason, 'completed');
      assert.ok(!existsSync(join(out, LOCK_FILE)), 'the run released its lock');
    });

    it("should take over a dead process's lock, but not one from another host", async () => {
      const out = join(tmp(), 'stale');
      mkdirSync(out, { recursive: true });
      writeFileSync(
        join(out, LOCK_FILE),
        `${JSON.stringify({ pid: DEAD_PID, host: hostname(), started: '2026-01-01T00:00:00.000Z' })}\n`,
      );
      assert.equal(
        (await new Trainer({ ...TINY, steps: 2 }).run({ outDir: out, corpusCache: corpora })).step,
        2,
      );
      assert.ok(!existsSync(join(out, LOCK_FILE)));
      writeFileSync(
        join(out, LOCK_FILE),
        `${JSON.stringify({ pid: DEAD_PID, host: 'elsewhere', started: '2026-01-01T00:00:00.000Z' })}\n`,
      );
      assert.throws(
        () => RunLock.acquire(out),
        (e: unknown) =>
          e instanceof LockError &&
          /in use by pid 4194321 on host elsewhere .*if that process is gone, remove .*moderoute\.lock/.test(
            e.message,
          ),
      );
    });

    it('should hold against another process, and be released when that process exits', async () => {
      const out = join(tmp(), 'child');
      mkdirSync(out, { recursive: true });
      // The child exits (process.exit) when its stdin closes.
      const child = await lockHolder(
        out,
        "process.stdin.on('end', () => process.exit(3)); process.stdin.resume();",
      );
      try {
        assert.throws(
          () => RunLock.acquire(out),
          (e: unknown) =>
            e instanceof LockError &&
            e.holder?.pid === child.pid &&
            new RegExp(`in use by pid ${child.pid} `).test(e.message),
        );
      } finally {
        child.stdin!.end();
      }
      assert.equal(await exited(child), 3);
      assert.ok(!existsSync(join(out, LOCK_FILE)));
      RunLock.acquire(out).release();
    });

    it('should say when the run directory is not writable', () => {
      const out = join(tmp(), 'readonly');
      mkdirSync(out, { recursive: true });
      setWriteFaults({ fail: { match: LOCK_FILE, code: 'EACCES' } });
      assert.throws(
        () => RunLock.acquire(out),
        (e: unknown) =>
          e instanceof StorageError &&
          new RegExp(
            `lock file .*moderoute\\.lock cannot be written: permission denied \\(EACCES\\); ` +
              `the run directory ${resolve(out).replace(/[.]/g, '\\.')} must be writable`,
          ).test(e.message),
      );
    });
  });

  describe('when the disk fills up', () => {
    for (const [which, afterWrites] of [
      ['the first', 0],
      ['a later', 5],
    ] as const) {
      it(
        `should stop on ${which} checkpoint with a clear error, keep the ` +
          `last good one, and resume to the same losses`,
        async () => {
          const out = join(tmp(), `full-${afterWrites}`);
          // A checkpoint writes 5 files (model, optimizer, config, state, manifest).
          setWriteFaults({ fail: { match: 'ckpt-', code: 'ENOSPC', afterWrites } });
          await assert.rejects(
            new Trainer(TINY).run({ outDir: out, corpusCache: corpora }),
            (e: unknown) => {
              assert.ok(e instanceof CheckpointError && e.problem === 'unwritable', String(e));
              assert.match(
                e.message,
                new RegExp(
                  /cannot be written: no space left on the device \(ENOSPC\); /.source +
                    /the checkpoint needs \d+(\.\d)? (bytes|KiB|MiB)/.source,
                ),
              );
              assert.match(
                e.message,
                afterWrites === 0
                  ? /no earlier checkpoint exists/
                  : /the last good checkpoint .*ckpt-00000002 is kept/,
              );
              return true;
            },
          );
          setWriteFaults();
          const store = new CheckpointStore(join(out, 'checkpoints'));
          assert.deepEqual(
            store.list().map((c) => c.step),
            afterWrites === 0 ? [] : [2],
          );
          assert.deepEqual(
            readdirSync(store.root).filter((e) => e.includes('.tmp-')),
            [],
          );
          assert.ok(!existsSync(join(out, LOCK_FILE)));
          const result = await new Trainer(TINY).run({ outDir: out, corpusCache: corpora });
          assert.equal(result.resumedFrom, afterWrites === 0 ? undefined : 2);
          assert.deepEqual(stepLosses(out), stepLosses(base));
        },
      );
    }

    it('should name the metrics log when it cannot be written', async () => {
      const out = join(tmp(), 'full-metrics');
      setWriteFaults({ fail: { match: 'metrics.jsonl', code: 'ENOSPC', afterWrites: 2 } });
      const before = tf.memory().numTensors;
      await assert.rejects(
        new Trainer(TINY).run({ outDir: out, corpusCache: corpora }),
        (e: unknown) =>
          e instanceof StorageError &&
          new RegExp(
            `metrics log .*metrics\\.jsonl cannot be written: ` +
              `no space left on the device \\(ENOSPC\\); the last checkpoint is kept`,
          ).test(e.message),
      );
      assert.equal(tf.memory().numTensors, before);
      assert.ok(!existsSync(join(out, LOCK_FILE)));
    });
  });

  it('should remove what killed writers left, once it holds the lock', async () => {
    const out = join(tmp(), 'leftovers');
    await new Trainer({ ...TINY, steps: 2 }).run({ outDir: out, corpusCache: corpora });
    const stale = [
      join(out, 'checkpoints', `ckpt-00000004.tmp-${DEAD_PID}-abcd`),
      join(out, `metrics.jsonl.tmp-${DEAD_PID}-abcd`),
      join(out, `${LOCK_FILE}.tmp-${DEAD_PID}-abcd`),
    ];
    mkdirSync(stale[0]!);
    writeFileSync(join(stale[0]!, 'model.safetensors'), 'partial');
    writeFileSync(stale[1]!, '{"kind":"step"');
    await new Trainer(TINY).run({ outDir: out, corpusCache: corpora });
    for (const path of stale) assert.ok(!existsSync(path), path);
  });
});
