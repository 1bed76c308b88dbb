// initBackend's wasm threads: the count's validation, its sources, and the threaded build in a
// fresh process (the count is fixed per process), through fixtures/threadedWasm.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendError, initBackend } from '@moderoute/core';

const FIXTURE = fileURLToPath(new URL('./fixtures/threadedWasm.ts', import.meta.url));

interface ChildReport {
  threads: number;
  notes: string[];
  description: string;
  plainDiff: number;
  batchedDiff: number;
  processListeners: number;
}

/** Runs the fixture in a fresh process (wasm's thread count is fixed per process). */
function runChild(env: Record<string, string>): ChildReport {
  const result = spawnSync(
    process.execPath,
    ['--conditions=@moderoute/source', '--import', 'tsx', FIXTURE],
    {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      // The pool's workers are unref'd: the child must exit by itself, well before this.
      timeout: 60_000,
    },
  );
  assert.equal(
    result.status,
    0,
    `child exited with ${result.status} (${result.signal ?? 'no signal'}): ${result.stderr.slice(-2000)}`,
  );
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '') as ChildReport;
}

const absent = async (name: string): Promise<never> => {
  throw new Error(`Cannot find package '${name}'`);
};

describe('initBackend', () => {
  after(async () => {
    await initBackend({ backend: 'cpu' });
  });

  describe('threads', () => {
    it('should refuse a count outside 1..8, naming where it came from', async () => {
      for (const threads of [0, 9, 1.5]) {
        await assert.rejects(initBackend({ backend: 'wasm', threads }), (error: unknown) => {
          assert.ok(error instanceof BackendError);
          assert.match(
            error.message,
            new RegExp(`^threads \\(${threads}\\) must be an integer from 1 to 8`),
          );
          return true;
        });
      }
      // Checked before any backend is tried, so a bad value never falls through to cpu.
      await assert.rejects(
        initBackend({ env: { MODEROUTE_THREADS: 'two' }, importPackage: absent }),
        /MODEROUTE_THREADS \("two"\) must be an integer from 1 to 8/,
      );
    });

    it('should refuse to change the count once wasm runs', async () => {
      const info = await initBackend({ backend: 'wasm' });
      const other = info.threads === 1 ? 2 : 1;
      await assert.rejects(
        initBackend({ backend: 'wasm', threads: other }),
        new RegExp(
          `threads \\(${other}\\) cannot change once wasm is initialised in this process; it runs ${info.threads}`,
        ),
      );
      assert.equal(
        (await initBackend({ backend: 'wasm', threads: info.threads })).threads,
        info.threads,
      );
    });

    for (const threads of [1, 2]) {
      it(
        `should run ` +
          `${threads === 1 ? "tfjs's single-thread build" : 'the threaded build'} with ` +
          `MODEROUTE_THREADS=${threads}, agreeing with cpu, and let the process exit, ` +
          `leaving no error listeners`,
        function () {
          this.timeout(120_000);
          const report = runChild({ MODEROUTE_THREADS: String(threads) });
          assert.equal(report.threads, threads);
          assert.deepEqual(report.notes, []);
          assert.ok(
            report.plainDiff < 1e-4,
            `plain product differs from cpu by ${report.plainDiff}`,
          );
          assert.ok(
            report.batchedDiff < 1e-4,
            `batched product differs from cpu by ${report.batchedDiff}`,
          );
          // No rethrowing 'uncaughtException'/'unhandledRejection' listeners left by the Emscripten build.
          assert.equal(report.processListeners, 0);
        },
      );
    }

    it('should fall back to one thread, saying why, when the threaded build cannot start', function () {
      this.timeout(120_000);
      // The worker file goes to $TMPDIR/moderoute/: a plain file there makes that impossible.
      const dir = mkdtempSync(join(tmpdir(), 'moderoute-threads-'));
      try {
        writeFileSync(join(dir, 'moderoute'), 'not a directory');
        const report = runChild({ MODEROUTE_THREADS: '2', TMPDIR: dir });
        assert.equal(report.threads, 1);
        assert.equal(report.notes.length, 1);
        assert.match(
          report.notes[0] ?? '',
          /^threaded build unavailable \(.*\), running 1 thread; MODEROUTE_THREADS=1 skips the attempt$/,
        );
        assert.match(
          report.description,
          /^wasm \(SIMD, 1 thread\) from @tensorflow\/tfjs-backend-wasm; threaded build unavailable/,
        );
        assert.ok(report.batchedDiff < 1e-4);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
