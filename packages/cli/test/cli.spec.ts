import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatTrainingReport, type TrainingBenchReport } from '@moderoute/experiments';
import { ReplicaError, ReplicaPool } from '@moderoute/train';
import { memoryChildArgs } from '../src/commands/bench.js';
import { EXIT } from '../src/index.js';
import { TINY_MODEL, run } from './helpers.js';

describe('moderoute', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'moderoute-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('--help', () => {
    it('should list every command, and explain every option of train', async () => {
      const top = await run('--help');
      assert.equal(top.code, EXIT.ok);
      for (const cmd of ['train', 'eval', 'inspect', 'generate', 'reproduce', 'bench'])
        assert.match(top.out, new RegExp(`\\b${cmd}\\b`));
      const train = await run('train', '--help');
      for (const opt of [
        '--config',
        '--variant',
        '--steps',
        '--lr',
        '--data',
        '--out',
        '--no-resume',
        '--json',
        '--backend',
      ])
        assert.ok(train.out.includes(opt), opt);
    });
  });

  describe('train, inspect and eval', () => {
    it('should train a tiny MoD model, resume it, inspect its routing and evaluate it', async () => {
      const out = join(dir, 'run');
      const first = await run(
        'train',
        '--variant',
        'mod-every-other',
        ...TINY_MODEL,
        '--steps',
        '4',
        '--out',
        out,
        '--json',
      );
      assert.equal(first.code, EXIT.ok, first.err);
      const result = JSON.parse(first.out) as {
        step: number;
        stopReason: string;
        finalValidationBitsPerByte: number;
      };
      assert.equal(result.step, 4);
      assert.equal(result.stopReason, 'completed');
      // More steps on the same run directory continue it.
      const more = await run(
        'train',
        '--variant',
        'mod-every-other',
        ...TINY_MODEL,
        '--steps',
        '6',
        '--out',
        out,
        '--json',
      );
      assert.equal((JSON.parse(more.out) as { resumedFrom: number }).resumedFrom, 4);

      const svg = join(dir, 'routing.svg');
      const inspect = await run(
        'inspect',
        '--checkpoint',
        out,
        '--text',
        'Fellow citizens',
        '--svg',
        svg,
        '--backend',
        'wasm',
      );
      assert.equal(inspect.code, EXIT.ok, inspect.err);
      assert.match(inspect.out, /block 1 \(mod\) [█·]{15}/);
      assert.ok(readFileSync(svg, 'utf8').startsWith('<svg'));

      const json = await run(
        'inspect',
        '--checkpoint',
        out,
        '--text',
        'Fellow citizens',
        '--json',
        '--backend',
        'wasm',
      );
      const pattern = JSON.parse(json.out) as { processed: number[][]; tokens: string[] };
      assert.equal(pattern.tokens.length, 15);
      // MoD at 12.5% of 15 tokens selects one token per sequence.
      assert.equal(
        pattern.processed[0]!.reduce((a, b) => a + b, 0),
        1,
      );

      for (const routing of ['top-k', 'causal']) {
        const ev = await run(
          'eval',
          '--checkpoint',
          out,
          '--windows',
          '4',
          '--routing',
          routing,
          '--json',
          '--backend',
          'wasm',
        );
        assert.equal(ev.code, EXIT.ok, ev.err);
        const r = JSON.parse(ev.out) as { validationBitsPerByte: number; routing: string };
        assert.ok(r.validationBitsPerByte > 0 && r.validationBitsPerByte < 9);
        assert.equal(r.routing, routing === 'causal' ? 'threshold' : 'top-k');
        if (routing === 'causal') {
          const c = r as unknown as {
            agreement: { block: number; threshold: { accuracy: number } }[];
            bitsPerByte: Record<string, number>;
          };
          assert.equal(c.agreement[0]!.block, 1);
          assert.ok(
            c.agreement[0]!.threshold.accuracy >= 0 && c.agreement[0]!.threshold.accuracy <= 1,
          );
          assert.ok(c.bitsPerByte['top-k']! > 0 && c.bitsPerByte['threshold']! > 0);
        }
      }

      const gen = await run(
        'generate',
        '--checkpoint',
        out,
        '--prompt',
        'We the',
        '--max-tokens',
        '12',
        '--seed',
        '4',
        '--json',
        '--backend',
        'wasm',
      );
      assert.equal(gen.code, EXIT.ok, gen.err);
      const g = JSON.parse(gen.out) as { tokens: number[]; text: string };
      assert.equal(g.tokens.length, 12);
      const again = await run(
        'generate',
        '--checkpoint',
        out,
        '--prompt',
        'We the',
        '--max-tokens',
        '12',
        '--seed',
        '4',
        '--json',
        '--backend',
        'wasm',
      );
      assert.deepEqual((JSON.parse(again.out) as { tokens: number[] }).tokens, g.tokens);
      const streamed = await run(
        'generate',
        '--checkpoint',
        out,
        '--prompt',
        'We the',
        '--max-tokens',
        '12',
        '--seed',
        '4',
        '--backend',
        'wasm',
      );
      assert.ok(streamed.out.startsWith('We the'));
      const noPredictor = await run(
        'generate',
        '--checkpoint',
        out,
        '--prompt',
        'We',
        '--max-tokens',
        '2',
        '--mode',
        'predictor',
        '--backend',
        'wasm',
      );
      assert.equal(noPredictor.code, EXIT.usage);
      // Checked before the prompt is echoed, and the message says how to train a predictor.
      assert.equal(noPredictor.out, '');
      assert.match(
        noPredictor.err,
        new RegExp(
          /it has no predictor \(its causalMode is "threshold"\); use mode "threshold" with it, /
            .source +
            /or train a model whose MoD router config sets causalMode: "predictor" \(in a train --config file: /
              .source,
        ),
      );
      const inspectPredictor = await run(
        'inspect',
        '--checkpoint',
        out,
        '--text',
        'We',
        '--mode',
        'predictor',
        '--backend',
        'wasm',
      );
      assert.equal(inspectPredictor.code, EXIT.usage);
      assert.match(
        inspectPredictor.err,
        new RegExp(
          'it has no predictor \\(its causalMode is "threshold"\\); use mode ' +
            '"threshold" with it, or train a model whose MoD router config sets ' +
            'causalMode: "predictor"',
        ),
      );
    });

    it('should report the windows it evaluated when asked for more than the split holds', async () => {
      const out = join(dir, 'run'); // trained above
      // A small text, so that its validation split holds few windows.
      const data = join(dir, 'small.txt');
      writeFileSync(
        data,
        Array.from(
          { length: 40 },
          (_, i) => `Line ${i}: we the people, in order to form a more perfect union.\n`,
        ).join(''),
      );
      for (const routing of ['top-k', 'causal']) {
        const ev = await run(
          'eval',
          '--checkpoint',
          out,
          '--data',
          data,
          '--windows',
          '1000000',
          '--routing',
          routing,
          '--json',
          '--backend',
          'wasm',
        );
        assert.equal(ev.code, EXIT.ok, ev.err);
        const r = JSON.parse(ev.out) as { windows: number; windowsRequested: number };
        assert.ok(r.windows > 0 && r.windows < 1000000, String(r.windows));
        assert.equal(r.windowsRequested, 1000000);
        const text = await run(
          'eval',
          '--checkpoint',
          out,
          '--data',
          data,
          '--windows',
          '1000000',
          '--routing',
          routing,
          '--backend',
          'wasm',
        );
        assert.match(
          text.out,
          new RegExp(
            `${r.windows} validation windows of 16 \\(all the split has; 1000000 asked for\\)`,
          ),
        );
      }
      const few = JSON.parse(
        (
          await run(
            'eval',
            '--checkpoint',
            out,
            '--data',
            data,
            '--windows',
            '3',
            '--json',
            '--backend',
            'wasm',
          )
        ).out,
      ) as { windows: number; windowsRequested?: number };
      assert.deepEqual([few.windows, few.windowsRequested], [3, undefined]);
    });
  });

  describe('reproduce', () => {
    it('should run a spec file end to end, write the report and skip finished runs when run again', async () => {
      const model = { width: 16, numLayers: 2, numHeads: 2, contextLength: 16 };
      const spec = {
        name: 'smoke',
        budgetFlops: 4e8,
        batchSize: 2,
        seqLen: 16,
        evalPoints: 2,
        evalWindows: 2,
        variants: [
          { name: 'dense', model },
          {
            name: 'mod',
            model: {
              ...model,
              schedule: {
                pattern: [
                  'dense',
                  {
                    kind: 'mod',
                    depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25 } },
                  },
                ],
              },
            },
          },
        ],
      };
      const file = join(dir, 'spec.json');
      writeFileSync(file, JSON.stringify(spec));
      const out = join(dir, 'repro');
      const r = await run('reproduce', '--spec', file, '--out', out, '--backend', 'wasm', '--json');
      assert.equal(r.code, EXIT.ok, r.err);
      const result = JSON.parse(r.out) as {
        rows: {
          variant: string;
          steps: number;
          trainingFlops: number;
          routedFractionPerBlock: number[];
        }[];
        paths: { report: string };
      };
      assert.deepEqual(
        result.rows.map((row) => row.variant),
        ['dense', 'mod'],
      );
      for (const row of result.rows)
        assert.ok(
          row.trainingFlops <= 4e8 && row.trainingFlops > 0.9 * 4e8,
          String(row.trainingFlops),
        );
      assert.ok(
        result.rows[1]!.steps > result.rows[0]!.steps,
        'MoD takes more steps at the same budget',
      );
      assert.equal(result.rows[1]!.routedFractionPerBlock[1], 0.25);
      assert.match(readFileSync(result.paths.report, 'utf8'), /\| mod \|/);
      const again = await run('reproduce', '--spec', file, '--out', out, '--backend', 'wasm');
      assert.equal(again.code, EXIT.ok, again.err);
      assert.match(again.err, /dense: already finished/);
      assert.match(again.out, /\| mod \|/);
    });
  });

  describe('--replicas', () => {
    it('should train data-parallel to the losses of one replica, and say so', async () => {
      const losses: number[][] = [];
      for (const replicas of ['1', '2']) {
        const out = join(dir, `replicas-${replicas}`);
        const r = await run(
          'train',
          '--variant',
          'mod-every-other',
          ...TINY_MODEL,
          '--steps',
          '3',
          '--out',
          out,
          '--replicas',
          replicas,
        );
        assert.equal(r.code, EXIT.ok, r.err);
        if (replicas === '2') assert.match(r.err, /; 2 data-parallel replicas/);
        losses.push(
          readFileSync(join(out, 'metrics.jsonl'), 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { kind: string; loss: number })
            .filter((e) => e.kind === 'step')
            .map((e) => e.loss),
        );
      }
      assert.equal(losses[1]!.length, 3);
      losses[1]!.forEach((loss, i) =>
        assert.ok(
          Math.abs(loss - losses[0]![i]!) < 1e-4 * Math.abs(losses[0]![i]!),
          `step ${i + 1}: ${loss} vs ${losses[0]![i]}`,
        ),
      );
    });

    it(
      'should train on one replica, saying why, when "auto" replicas cannot start; and ' +
        'fail when asked for a number',
      async () => {
        const start = ReplicaPool.start;
        ReplicaPool.start = () =>
          Promise.reject(
            new ReplicaError('data-parallel replica 1 could not start: no threads here'),
          );
        try {
          const auto = await run(
            'train',
            '--variant',
            'dense',
            ...TINY_MODEL,
            '--steps',
            '1',
            '--out',
            join(dir, 'fallback'),
          );
          assert.equal(auto.code, EXIT.ok, auto.err);
          assert.match(
            auto.err,
            new RegExp(
              'data-parallel replicas unavailable \\(data-parallel replica 1 could ' +
                'not start: no threads here\\); training on one replica',
            ),
          );
          const two = await run(
            'train',
            '--variant',
            'dense',
            ...TINY_MODEL,
            '--steps',
            '1',
            '--out',
            join(dir, 'fallback-2'),
            '--replicas',
            '2',
          );
          assert.notEqual(two.code, EXIT.ok);
          assert.match(two.err, /no threads here/);
        } finally {
          ReplicaPool.start = start;
        }
      },
    );

    it("should time the bench data-parallel against the replicas' peak", async () => {
      const r = await run(
        'bench',
        '--only',
        'mod',
        '--steps',
        '1',
        '--passes',
        '1',
        '--no-peer',
        '--no-memory',
        '--replicas',
        '2',
        '--json',
      );
      assert.equal(r.code, EXIT.ok, r.err);
      const report = JSON.parse(r.out) as {
        replicas: number;
        matmulPeakGflops: number;
        variants: Record<string, { msPerStep: number; fractionOfPeak: number }>;
      };
      assert.equal(report.replicas, 2);
      assert.ok(
        report.matmulPeakGflops > 0 &&
          report.variants['mod']!.msPerStep > 0 &&
          report.variants['mod']!.fractionOfPeak > 0,
      );
    });
  });

  describe('bench', () => {
    it('should time a variant at the bench config and report against the matmul peak', async () => {
      const r = await run(
        'bench',
        '--only',
        'dense',
        '--steps',
        '1',
        '--passes',
        '1',
        '--no-peer',
        '--json',
      );
      assert.equal(r.code, EXIT.ok, r.err);
      const report = JSON.parse(r.out) as {
        backend: string;
        threads: number;
        matmulPeakGflops: number;
        peakRssMb: number;
        variants: Record<
          string,
          {
            msPerStep: number;
            flopsPerStep: number;
            fractionOfPeak: number;
            memory: { peakRssMb: number; wasmHeapMb: number };
          }
        >;
        peerUnavailable: string;
        tfjsPeerUnavailable: string;
      };
      assert.equal(report.backend, 'wasm');
      assert.ok(Number.isInteger(report.threads) && report.threads >= 1);
      assert.ok(report.matmulPeakGflops > 0 && report.peakRssMb > 0);
      const dense = report.variants['dense']!;
      assert.ok(dense.msPerStep > 0 && dense.fractionOfPeak > 0 && dense.fractionOfPeak < 1.5);
      // 5.84 GFLOP per step at the bench config (docs/performance.md), from the analytic count.
      assert.ok(Math.abs(dense.flopsPerStep - 5.84e9) < 0.02e9, String(dense.flopsPerStep));
      assert.equal(report.peerUnavailable, '--no-peer');
      assert.equal(report.tfjsPeerUnavailable, '--no-tfjs-peer');
      // Measured in a process of its own (--memory-of): the wasm heap holds at least the weights.
      assert.ok(dense.memory.peakRssMb > 0, JSON.stringify(dense.memory));
      assert.ok(dense.memory.wasmHeapMb > (4 * 875520) / 2 ** 20, JSON.stringify(dense.memory));
    });
  });

  describe('bench --own-kernels', () => {
    it('should refuse a mode that is not on, off or both, naming the option and the value', async () => {
      const r = await run('bench', '--own-kernels', 'maybe', '--no-peer', '--no-memory');
      assert.equal(r.code, EXIT.usage);
      assert.match(r.err, /--own-kernels \("maybe"\) must be one of on, off, both/);
    });

    it('should pass off, and only off, to the memory child', () => {
      const flags = { backend: 'wasm', replicas: 2, optimizer: 'adamw' } as const;
      const args = memoryChildArgs('mod', { ...flags, ownKernels: 'off' });
      assert.deepEqual(args.slice(args.indexOf('--own-kernels')), ['--own-kernels', 'off']);
      for (const ownKernels of ['on', 'both'] as const)
        assert.ok(!memoryChildArgs('mod', { ...flags, ownKernels }).includes('--own-kernels'));
    });

    it('should run each variant beside its "(tfjs kernels)" twin and give their ratio per pass', async () => {
      const r = await run(
        'bench',
        '--only',
        'mod',
        '--steps',
        '1',
        '--passes',
        '1',
        '--replicas',
        '1',
        '--own-kernels',
        'both',
        '--no-peer',
        '--no-memory',
        '--json',
      );
      assert.equal(r.code, EXIT.ok, r.err);
      const report = JSON.parse(r.out) as TrainingBenchReport;
      assert.equal(report.ownKernels, 'both');
      assert.deepEqual(Object.keys(report.variants), ['mod', 'mod (tfjs kernels)']);
      const [own, tfjs] = [report.variants['mod']!, report.variants['mod (tfjs kernels)']!];
      assert.deepEqual([own.ownKernels, tfjs.ownKernels], [true, false]);
      // One pass here: its ratio is the median and the range (benchOwnKernels.spec.ts has more).
      const ratio = own.msPerStepPasses[0]! / tfjs.msPerStepPasses[0]!;
      assert.deepEqual(report.ratios['mod: own / tfjs kernels'], {
        median: ratio,
        min: ratio,
        max: ratio,
      });
      const text = formatTrainingReport(report, false).join('\n');
      assert.match(text, /own \/ tfjs kernels/);
      assert.match(text, /mod \(tfjs kernels\)/);
    });
  });

  describe('when the input is bad', () => {
    it('should name the option and the value, and exit 2', async () => {
      const r = await run('train', '--steps', 'many');
      assert.equal(r.code, EXIT.usage);
      assert.match(r.err, /--steps \("many"\) must be an integer >= 1/);
      const v = await run('train', '--variant', 'moo');
      assert.match(
        v.err,
        /--variant \("moo"\) must be one of dense, mod-every-other, mod-every-block/,
      );
      for (const command of ['train', 'eval', 'generate', 'inspect', 'reproduce', 'bench']) {
        const t = await run(command, '--threads', '9');
        assert.equal(t.code, EXIT.usage, command);
        assert.match(t.err, /--threads \("9"\) must be an integer from 1 to 8/, command);
      }
      const baseline = await run('bench', '--baseline', '--replicas', '2', '--no-peer');
      assert.equal(baseline.code, EXIT.usage);
      assert.match(baseline.err, /--baseline \(true\) must be used with --replicas 1/);
      for (const command of ['train', 'reproduce', 'bench']) {
        for (const value of ['0', '17', 'many']) {
          const t = await run(command, '--replicas', value);
          assert.equal(t.code, EXIT.usage, `${command} --replicas ${value}`);
          assert.match(t.err, new RegExp(`--replicas \\("${value}"\\) must be`), command);
        }
      }
    });

    it('should explain a missing checkpoint and an unreadable config', async () => {
      const r = await run(
        'inspect',
        '--checkpoint',
        join(dir, 'nowhere'),
        '--text',
        'x',
        '--backend',
        'wasm',
      );
      assert.equal(r.code, EXIT.usage);
      assert.match(r.err, /nowhere.*no checkpoint here/);
      const cfg = join(dir, 'bad.json');
      writeFileSync(cfg, '{ "steps": ');
      const c = await run('train', '--config', cfg, '--out', join(dir, 'x'));
      assert.equal(c.code, EXIT.usage);
      assert.match(c.err, /--config .* must be a readable JSON train config/);
      assert.ok(!existsSync(join(dir, 'x')));
    });

    it('should refuse binary training data', async () => {
      const bin = join(dir, 'data.bin.txt');
      writeFileSync(
        bin,
        Buffer.from([
          0, 1, 2, 255, 0, 0, 3, 4, 0, 0, 0, 9, 8, 7, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
          0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]),
      );
      const r = await run(
        'train',
        ...TINY_MODEL,
        '--steps',
        '1',
        '--data',
        bin,
        '--out',
        join(dir, 'b'),
      );
      assert.equal(r.code, EXIT.usage);
      assert.match(r.err, /binary/);
    });
  });
});
