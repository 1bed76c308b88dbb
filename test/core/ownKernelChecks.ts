// Checks every spec of core's own wasm kernels shares (issue 19): the kernels run on wasm unless
// switched off, and they agree with the reference in a child process on each wasm build (one
// thread, and the threaded build), since wasm's thread count is fixed per process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setOwnKernels } from '@moderoute/core';

/** An `it`: `serves()` is true on wasm, false once the own kernels are switched off. */
export function itRunsOwnKernels(serves: () => boolean): void {
  it('should run them (registered for wasm, not disabled)', () => {
    assert.equal(serves(), true);
    setOwnKernels(false);
    try {
      assert.equal(serves(), false);
    } finally {
      setOwnKernels(undefined);
    }
  });
}

/**
 * One `it` per wasm build: runs `fixture` (a file printing, as its last line, JSON `{threads,
 * used, maxDiff}`) with MODEROUTE_THREADS 1 and 2, and checks that the own kernels ran and
 * differed from `reference` by less than `tolerance`.
 */
export function itMatchesInChildProcesses(
  fixture: string,
  tolerance: number,
  reference = 'the tfjs path',
): void {
  for (const threads of ['1', '2']) {
    it(`should equal ${reference} in a process with MODEROUTE_THREADS=${threads}`, () => {
      const result = spawnSync(
        process.execPath,
        ['--conditions=@moderoute/source', '--import', 'tsx', fixture],
        { env: { ...process.env, MODEROUTE_THREADS: threads }, encoding: 'utf8', timeout: 60_000 },
      );
      assert.equal(result.status, 0, result.stderr.slice(-2000));
      const report = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '') as {
        threads: number;
        used: boolean;
        maxDiff: number;
      };
      assert.equal(report.used, true);
      assert.ok(report.maxDiff < tolerance, `largest relative difference ${report.maxDiff}`);
      // The threaded build may be unavailable on a host; then it runs (and is checked on) one thread.
      assert.ok(report.threads === 1 || report.threads === Number(threads));
    });
  }
}
