// `moderoute reproduce` on isoFLOP sweeps: a micro sweep run whole in this process and as two
// shards in two child processes, then merged, gives the same report numbers; bad shard specs and
// merges are refused with exit 2 and one line naming the option or the directory.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunLock } from '@moderoute/train';
import { EXIT } from '../src/index.js';
import { backendLabel } from '../src/commands/reproduceSweep.js';
import { run } from './helpers.js';

const BIN = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

/** 1 budget x dense, MoD x 2 sizes x 2 seeds: 8 micro runs of a few steps each. */
const MICRO_SWEEP = {
  kind: 'sweep',
  name: 'cli-micro-sweep',
  budgets: [1.5e7],
  families: ['dense', 'mod-every-other'],
  sizes: [
    { width: 8, numLayers: 2, numHeads: 2 },
    { width: 16, numLayers: 2, numHeads: 2 },
  ],
  seeds: [0, 1],
  batchSize: 2,
  seqLen: 16,
  learningRate: 1e-2,
  evalPoints: 1,
  evalWindows: 4,
  finalEvalWindows: 8,
  checkpointsPerRun: 0,
  capacity: 0.25,
};

const FLAGS = ['--backend', 'wasm', '--threads', '1', '--replicas', '1'];

/** `moderoute ...args` in a child process; resolves with its exit code, stdout and stderr. */
function child(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const p = spawn(
    process.execPath,
    ['--conditions=@moderoute/source', '--import', 'tsx', BIN, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, out, err })));
}

interface Results {
  shards: { shard: { index: number; count: number }; backends: string[] }[];
  analysis: unknown;
  rows: { variant: string; backend: string; finalEval: unknown; evals: unknown; steps: number }[];
}
const results = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Results;

/** Every number of a report that depends on neither the clock nor the directories. */
function numbers(dir: string) {
  const r = results(dir);
  const CLOCK_OR_PLACE = ['msPerStep', 'stepTimeRatio', 'wallSeconds', 'tokensPerSecond', 'runDir'];
  const timeless = (key: string, value: unknown) =>
    CLOCK_OR_PLACE.includes(key) ? undefined : value;
  return {
    rows: JSON.parse(
      JSON.stringify(
        [...r.rows].sort((a, b) => a.variant.localeCompare(b.variant)),
        timeless,
      ),
    ) as unknown,
    analysis: JSON.parse(JSON.stringify(r.analysis, timeless)) as unknown,
    // The tables' loss columns: every cell but ms / step (the last) and the shards' table.
    tables: readFileSync(join(dir, 'report.md'), 'utf8')
      .split('\n')
      .filter((l) => /^\| (dense|mod-every-other) \|/.test(l))
      .map((l) => l.split('|').slice(0, -2).join('|')),
  };
}

describe('moderoute reproduce (isoFLOP sweeps)', () => {
  let dir: string;
  let spec: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'moderoute-sweep-cli-'));
    spec = join(dir, 'sweep.json');
    writeFileSync(spec, JSON.stringify(MICRO_SWEEP));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  before(async function () {
    this.timeout(120_000);
    // The whole sweep and its two shards, each in its own process (all on one wasm thread, so
    // the float products are the same), at the same time.
    const [whole, ...shards] = await Promise.all([
      child('reproduce', '--spec', spec, '--out', join(dir, 'whole'), ...FLAGS),
      ...[0, 1].map((i) =>
        child(
          'reproduce',
          '--spec',
          spec,
          '--shard',
          `${i}/2`,
          '--out',
          join(dir, `s${i}`),
          ...FLAGS,
        ),
      ),
    ]);
    assert.equal(whole!.code, EXIT.ok, whole!.err);
    for (const s of shards) assert.equal(s.code, EXIT.ok, s.err);
    assert.match(shards[0]!.err, /backend: wasm.*; shard 0\/2 in .*s0/);
    assert.match(shards[1]!.out, /shard 1\/2 finished \(4 runs, backend wasm\)/);
  });

  it(
    'should give the same report numbers from two shards in two processes, merged, as from ' +
      'the whole sweep',
    async () => {
      const merged = await run(
        'reproduce',
        '--merge',
        join(dir, 's1'),
        join(dir, 's0'),
        '--out',
        join(dir, 'merged'),
      );
      assert.equal(merged.code, EXIT.ok, merged.err);
      assert.match(
        merged.out,
        /merged 2 shards, 8 runs \(backends: 0\/2 wasm, 1\/2 wasm\); report: .*merged\/report\.md/,
      );
      const [a, b] = [numbers(join(dir, 'whole')), numbers(join(dir, 'merged'))];
      assert.equal(a.tables.length, 5, 'four sizes and one verdict');
      assert.deepEqual(b, a);
      // Each shard's backend is in the merged results and report.
      const m = results(join(dir, 'merged'));
      assert.deepEqual(
        m.shards.map((s) => [s.shard.index, s.backends]),
        [
          [0, ['wasm']],
          [1, ['wasm']],
        ],
      );
      assert.ok(m.rows.every((r) => r.backend === 'wasm'));
      assert.match(
        readFileSync(join(dir, 'merged', 'report.md'), 'utf8'),
        /\| 1\/2 \| .*s1 \| wasm \|/,
      );
    },
  );

  it("should record a GPU backend as such, so a mixed CPU/GPU sweep shows in the shards' table", () => {
    assert.equal(backendLabel({ name: 'tensorflow', gpu: true }), 'tensorflow (GPU)');
    assert.equal(backendLabel({ name: 'tensorflow', gpu: false }), 'tensorflow');
    assert.equal(backendLabel({ name: 'wasm', gpu: false }), 'wasm');
  });

  // [arguments, the one-line message]; {} stands for the temporary folder.
  const cases: [string[], RegExp][] = [
    [
      ['--shard', '3/2'],
      /--shard \("3\/2"\) must be I\/N with I \(shard index\) from 0 to N - 1 = 1/,
    ],
    [['--shard', '0/0'], /--shard \("0\/0"\) must be I\/N with N \(shards\) at least 1/],
    [['--shard', 'two/4'], /--shard \("two\/4"\) must be I\/N with I and N whole numbers/],
    [['--shard', '1'], /--shard \("1"\) must be I\/N/],
    [['--shard', 'auto'], /--shard \("auto"\) must be used where SLURM_ARRAY_TASK_ID/],
    [['--preset', 'demo', '--shard', '0/2'], /--shard \("0\/2"\) must be used with a sweep/],
    [['--merge', '{}/s0'], /--out \(undefined\) must be given with --merge/],
    [
      ['--merge', '{}/s0', '--shard', '0/2', '--out', '{}/m'],
      /--shard \("0\/2"\) must be left out with --merge/,
    ],
    [
      ['--merge', '{}/m', '--out', '{}/out'],
      /SweepMergeError: sweep shard .*m: has no shard\.json/,
    ],
    [['--merge', '{}/s0', '--out', '{}/m'], /sweep shard .*s0: .*shard 1\/2 is in none/],
    [['--merge', '{}/s0', '{}/s1', '--out', '{}/s0/report'], /sweep shard .*s0: the merge output/],
    [
      ['--merge', '{}/s0', '{}/other', '--out', '{}/m'],
      /sweep shard .*other: holds shard 1\/2 of sweep "cli-micro-sweep" \(sha256:0\), but .*s0/,
    ],
    [
      ['--merge', '{}/s0', '{}/running', '--out', '{}/m'],
      /sweep shard .*running: still running \(.*pid/,
    ],
  ];

  describe('bad input', () => {
    let lock: RunLock | undefined;
    before(() => {
      // Another sweep's shard 1/2, and a shard 1/2 whose process still holds its lock.
      cpSync(join(dir, 's1'), join(dir, 'other'), { recursive: true });
      const manifest = join(dir, 'other', 'shard.json');
      writeFileSync(
        manifest,
        readFileSync(manifest, 'utf8').replace(
          /"fingerprint": "[^"]*"/,
          '"fingerprint": "sha256:0"',
        ),
      );
      cpSync(join(dir, 's1'), join(dir, 'running'), { recursive: true });
      lock = RunLock.acquire(join(dir, 'running'));
      mkdirSync(join(dir, 'm'), { recursive: true });
    });
    after(() => lock?.release());

    for (const [args, message] of cases)
      it(`should refuse \`reproduce ${args.join(' ')}\` with exit 2 and a one-line message`, async () => {
        const shards = () =>
          ['s0', 's1'].map((s) => readFileSync(join(dir, s, 'shard.json'), 'utf8'));
        const before = shards();
        const r = await run(
          'reproduce',
          ...(args.includes('--merge') || args.includes('--preset')
            ? []
            : ['--preset', 'sweep-demo']),
          ...args.map((a) => a.replaceAll('{}', dir)),
          ...(args.includes('--out') || args.includes('--merge') ? [] : ['--out', join(dir, 'x')]),
        );
        assert.equal(r.code, EXIT.usage, r.err);
        assert.match(r.err, message);
        assert.doesNotMatch(r.err, /unexpected error|\n\s+at /);
        assert.deepEqual(shards(), before, "a shard's manifest changed");
      });
  });
});
