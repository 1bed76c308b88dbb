// Sharding a sweep: "I/N" parsing, the schedulers' environment variables, and the partition
// (every run in exactly one shard, the same in every process).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '@moderoute/core';
import { parseShardSpec, shardFromEnvironment, shardRuns } from '../src/index.js';

const refuses = (f: () => unknown, ...parts: RegExp[]) =>
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    for (const p of parts) assert.match(e.message, p);
    return true;
  });

describe('parseShardSpec', () => {
  it('should read every I/N with 0 <= I < N', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100000 }), fc.nat(), (count, i) => {
        const index = i % count;
        assert.deepEqual(parseShardSpec(`${index}/${count}`), { index, count });
      }),
    );
  });

  it('should refuse an index at or past the count, naming the option and the text', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.nat(1000), (count, extra) => {
        const text = `${count + extra}/${count}`;
        refuses(() => parseShardSpec(text), /--shard/, new RegExp(`"${text}"`), /from 0 to N - 1/);
      }),
    );
  });

  it('should refuse 0/0, 3/2 and text that is not I/N', () => {
    refuses(() => parseShardSpec('0/0'), /--shard \("0\/0"\)/, /N \(shards\) at least 1/);
    refuses(() => parseShardSpec('3/2'), /--shard \("3\/2"\)/, /from 0 to N - 1 = 1/);
    for (const bad of ['a/b', '1', '1/2/3', '-1/2', '1.5/4', '0x1/2', '', '/', '01/2', '1/ '])
      refuses(() => parseShardSpec(bad), /--shard/, /I\/N/);
  });

  it('should refuse any string that is not two decimals (property)', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        fc.pre(!/^\s*(0|[1-9][0-9]*)\s*\/\s*(0|[1-9][0-9]*)\s*$/.test(text));
        assert.throws(() => parseShardSpec(text), ConfigError);
      }),
    );
  });
});

describe('shardFromEnvironment', () => {
  it('should read a Slurm job array, counted from SLURM_ARRAY_TASK_MIN', () => {
    const env = { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' };
    assert.deepEqual(shardFromEnvironment(env), { index: 3, count: 4 });
    assert.deepEqual(shardFromEnvironment({ ...env, SLURM_ARRAY_TASK_MIN: '1' }), {
      index: 2,
      count: 4,
    });
  });

  it('should read a Kubernetes Indexed Job with the count from the argument or the environment', () => {
    assert.deepEqual(shardFromEnvironment({ JOB_COMPLETION_INDEX: '2' }, 5), {
      index: 2,
      count: 5,
    });
    assert.deepEqual(
      shardFromEnvironment({ JOB_COMPLETION_INDEX: '0', MODEROUTE_SHARD_COUNT: '3' }),
      { index: 0, count: 3 },
    );
  });

  it('should be undefined outside a scheduler', () => {
    assert.equal(shardFromEnvironment({ HOME: '/root' }), undefined);
  });

  it('should name the variable that is missing, malformed or out of range', () => {
    refuses(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: '1' }), /MODEROUTE_SHARD_COUNT/);
    refuses(() => shardFromEnvironment({ SLURM_ARRAY_TASK_ID: '1' }), /SLURM_ARRAY_TASK_COUNT/);
    refuses(
      () => shardFromEnvironment({ SLURM_ARRAY_TASK_ID: 'x', SLURM_ARRAY_TASK_COUNT: '2' }),
      /SLURM_ARRAY_TASK_ID \("x"\)/,
    );
    refuses(
      () => shardFromEnvironment({ SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '2' }),
      /SLURM_ARRAY_TASK_ID/,
      /"2\/2"/,
    );
    refuses(
      () => shardFromEnvironment({ JOB_COMPLETION_INDEX: '4', MODEROUTE_SHARD_COUNT: '4' }),
      /JOB_COMPLETION_INDEX/,
      /"4\/4"/,
    );
    refuses(
      () => shardFromEnvironment({ JOB_COMPLETION_INDEX: '0', MODEROUTE_SHARD_COUNT: 'many' }),
      /MODEROUTE_SHARD_COUNT \("many"\)/,
    );
  });
});

describe('shardRuns', () => {
  const runsArb = fc
    .array(fc.double({ min: 1, max: 1e15, noNaN: true }), { minLength: 0, maxLength: 60 })
    .map((costs) => costs.map((plannedFlops, order) => ({ order, plannedFlops })));

  it('should put every run in exactly one of N shards, each shard in canonical order', () => {
    fc.assert(
      fc.property(runsArb, fc.integer({ min: 1, max: 12 }), (runs, count) => {
        const shards = Array.from({ length: count }, (_, index) =>
          shardRuns(runs, { index, count }),
        );
        const seen = shards.flat().map((r) => r.order);
        assert.deepEqual(
          [...seen].sort((a, b) => a - b),
          runs.map((r) => r.order),
        );
        for (const s of shards)
          assert.deepEqual(
            s.map((r) => r.order),
            [...s.map((r) => r.order)].sort((a, b) => a - b),
          );
      }),
    );
  });

  it('should give the same partition every time (another process computes the same)', () => {
    fc.assert(
      fc.property(runsArb, fc.integer({ min: 1, max: 8 }), (runs, count) => {
        for (let index = 0; index < count; index++)
          assert.deepEqual(
            shardRuns(runs, { index, count }),
            shardRuns(structuredClone(runs), { index, count }),
          );
      }),
    );
  });

  it('should balance equal runs: shard sizes differ by at most one', () => {
    fc.assert(
      fc.property(fc.nat(100), fc.integer({ min: 1, max: 10 }), (n, count) => {
        const runs = Array.from({ length: n }, (_, order) => ({ order, plannedFlops: 1e10 }));
        const sizes = Array.from(
          { length: count },
          (_, index) => shardRuns(runs, { index, count }).length,
        );
        assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, String(sizes));
      }),
    );
  });
});
