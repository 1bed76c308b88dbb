// `moderoute reproduce`: the Mixture-of-Depths paper's isoFLOP comparison at small scale on the
// embedded corpus, with a progress bar per run and a report directory (report.md, plots, JSON).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { ConfigError } from '@moderoute/core';
import {
  PRESET_NAMES,
  SWEEP_PRESET_NAMES,
  isSweepSpec,
  runReproduction,
  type SweepPresetName,
  type SweepSpec,
  type ReproductionResult,
  type ReproductionSpec,
} from '@moderoute/experiments';
import { DEFAULT_MAX_DATA_BYTES, MAX_DATA_BYTES_LIMIT } from '@moderoute/train';
import { formatFlops, type Io } from '../output.js';
import { choiceOption, intOption, replicasOption, threadsOption } from '../options.js';
import { inputFile, outputFolder } from '../paths.js';
import { mergeAction, sweepAction, type SweepFlags } from './reproduceSweep.js';
import { withReproductionRuns } from './reproduceRuns.js';

const PRESETS = [...PRESET_NAMES, ...SWEEP_PRESET_NAMES] as const;
const isSweepPreset = (p: string): p is SweepPresetName =>
  (SWEEP_PRESET_NAMES as readonly string[]).includes(p);

interface ReproduceFlags extends SweepFlags {
  preset: (typeof PRESETS)[number];
  merge?: string[];
  spec?: string;
  out?: string;
}

export function reproduceCommand(io: Io, setExit: (code: number) => void): Command {
  return new Command('reproduce')
    .description(
      'Run the isoFLOP comparison of dense, MoD, MoE and MoDE variants at one ' +
        'training-FLOP budget and write a report (resumable: finished runs are kept)',
    )
    .option(
      '--preset <name>',
      `${PRESETS.join(', ')}: demo takes at most 5 minutes on 2 cores, quick ` +
        `about 10 (at most 30), full hours; the isoFLOP sweeps sweep-demo a few minutes, ` +
        `sweep about 30, sweep-full hours (see docs/reproduction.md)`,
      choiceOption('--preset', PRESETS),
      'demo',
    )
    .option(
      '--spec <file>',
      'a JSON ReproductionSpec of your own instead of a preset',
      inputFile('--spec'),
    )
    .option(
      '--out <dir>',
      'report directory (default runs/reproduce-<preset>)',
      outputFolder('--out'),
    )
    .option(
      '--max-data-bytes <n>',
      `the most bytes of the spec's data text to read, every file together (default ` +
        `${DEFAULT_MAX_DATA_BYTES}, 1 GiB; at most ${MAX_DATA_BYTES_LIMIT})`,
      intOption('--max-data-bytes', 1, MAX_DATA_BYTES_LIMIT),
    )
    .option('--backend <name>', 'tensorflow, wasm or cpu')
    .addOption(threadsOption())
    .addOption(replicasOption())
    .option(
      '--shard <I/N|auto>',
      'sweeps: run shard I of N (0-based; a deterministic subset of the runs), or "auto": ' +
        'from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX',
    )
    .option(
      '--shard-count <n>',
      "with --shard auto under a Kubernetes Indexed Job: the number of shards (the Job's " +
        'completions; default MODEROUTE_SHARD_COUNT)',
      intOption('--shard-count', 1),
    )
    .option(
      '--merge <dirs...>',
      "sweeps: build one report in --out from finished shards' directories (never writes into them)",
    )
    .option('--json', 'print one JSON object with every row instead of text', false)
    .action(async (flags: ReproduceFlags) => {
      if (flags.merge !== undefined) {
        for (const [name, value] of [
          ['--shard', flags.shard],
          ['--shard-count', flags.shardCount],
          ['--spec', flags.spec],
        ] as const)
          if (value !== undefined)
            throw new ConfigError(
              name,
              value,
              'left out with --merge (the shards hold their sweep)',
            );
        if (flags.out === undefined)
          throw new ConfigError('--out', undefined, 'given with --merge: the report directory');
        setExit(await mergeAction(io, flags.merge, flags.out, flags.json));
        return;
      }
      let spec: ReproductionSpec | (typeof PRESET_NAMES)[number] | SweepPresetName = flags.preset;
      if (flags.spec !== undefined) {
        try {
          spec = JSON.parse(readFileSync(flags.spec, 'utf8')) as ReproductionSpec;
        } catch (error) {
          throw new ConfigError(
            '--spec',
            flags.spec,
            `a readable JSON reproduction spec (${error instanceof Error ? error.message : String(error)})`,
          );
        }
        if (spec === null || typeof spec !== 'object' || Array.isArray(spec))
          throw new ConfigError('--spec', flags.spec, 'a JSON object (a ReproductionSpec)');
      }
      const outDir = flags.out ?? `runs/reproduce-${flags.spec ? 'custom' : flags.preset}`;
      if (typeof spec === 'string' ? isSweepPreset(spec) : isSweepSpec(spec)) {
        setExit(await sweepAction(io, spec as SweepPresetName | SweepSpec, outDir, flags));
        return;
      }
      if (flags.shard !== undefined || flags.shardCount !== undefined)
        throw new ConfigError(
          '--shard',
          flags.shard ?? 'auto',
          'used with a sweep (a sweep preset or a spec of kind "sweep")',
        );
      const comparison = spec as ReproductionSpec | (typeof PRESET_NAMES)[number];
      // Each run's batch bounds its replicas; spare replicas sit a step out (DataParallel).
      const { result, exitCode } = await withReproductionRuns(
        io,
        flags,
        `report in ${outDir}`,
        ({ setup: _setup, progress, ...context }): Promise<ReproductionResult> =>
          runReproduction(comparison, {
            outDir,
            ...context,
            onRunStart: ({ variant, index, count, step, totalSteps, plannedFlops }) =>
              progress.start(
                `[${index + 1}/${count}] ${variant}: ${totalSteps} steps, ` +
                  `${formatFlops(plannedFlops)}${step > 0 ? `, resuming at step ${step}` : ''}`,
                variant.padEnd(16),
                totalSteps,
                step,
              ),
            onStep: (_variant, e) => progress.update(e.step, e),
            onRunEnd: (row, { skipped }) =>
              progress.end(
                `  ${row.variant}: ${skipped ? 'already finished' : 'done'}, ` +
                  `${row.finalValidationBitsPerByte?.toFixed(4) ?? '-'} bits/byte, ` +
                  `${row.wallSeconds.toFixed(0)} s`,
              ),
          }),
      );
      if (flags.json) io.out(JSON.stringify(result));
      else if (result.stopReason === 'completed') {
        io.out(
          `| variant | parameters | training FLOPs | steps | validation bits/byte | routed fraction per block |`,
        );
        io.out(`|---|---|---|---|---|---|`);
        for (const r of result.rows) {
          io.out(
            `| ${r.variant} | ${r.parameters} | ${formatFlops(r.trainingFlops)} | ${r.steps} ` +
              `| ${r.finalValidationBitsPerByte?.toFixed(4) ?? '-'} | ` +
              `${r.routedFractionPerBlock.map((f) => f.toFixed(2)).join(' ')} |`,
          );
        }
        if (result.paths) io.out(`report: ${result.paths.report}`);
        io.err(`${result.wallSeconds.toFixed(0)} s`);
      } else {
        io.err(`interrupted; run the same command again to continue from ${outDir}`);
      }
      setExit(exitCode);
    });
}
