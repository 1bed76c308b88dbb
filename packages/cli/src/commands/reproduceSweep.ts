// `moderoute reproduce` for isoFLOP sweeps: a sweep preset or spec, whole or one shard of it
// (`--shard I/N`, or `--shard auto` from a Kubernetes Indexed Job's or Slurm array's
// environment), and `--merge DIR...` that builds one report from finished shards.
import { ConfigError, type BackendInfo } from '@moderoute/core';
import {
  SHARD_COUNT_VARIABLE,
  mergeSweep,
  parseShardSpec,
  runSweep,
  shardFromEnvironment,
  type ShardSpec,
  type SweepPresetName,
  type SweepResult,
  type SweepSpec,
} from '@moderoute/experiments';
import { EXIT, type Io } from '../output.js';
import { withReproductionRuns, type RunFlags } from './reproduceRuns.js';

/** The flags of a sweep. */
export interface SweepFlags extends RunFlags {
  shard?: string;
  shardCount?: number;
}

/** The shard of `--shard` (I/N, or "auto": the scheduler's environment). */
export function resolveShard(
  flag: string | undefined,
  shardCount: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ShardSpec | undefined {
  if (flag === undefined) {
    if (shardCount !== undefined)
      throw new ConfigError('--shard-count', shardCount, 'given with --shard auto');
    return undefined;
  }
  if (flag !== 'auto') {
    if (shardCount !== undefined)
      throw new ConfigError('--shard-count', shardCount, 'given with --shard auto only');
    return parseShardSpec(flag);
  }
  const shard = shardFromEnvironment(env, shardCount);
  if (shard === undefined)
    throw new ConfigError(
      '--shard',
      'auto',
      'used where SLURM_ARRAY_TASK_ID (a Slurm job array) or JOB_COMPLETION_INDEX (a ' +
        `Kubernetes Indexed Job, with ${SHARD_COUNT_VARIABLE} or --shard-count) is set`,
    );
  return shard;
}

/**
 * The backend recorded with each run and in shard.json: its name, and "(GPU)" when its kernels run
 * on a GPU (`tensorflow (GPU)` from @tensorflow/tfjs-node-gpu), so a mixed CPU/GPU sweep shows.
 */
export const backendLabel = (info: Pick<BackendInfo, 'name' | 'gpu'>): string =>
  info.gpu ? `${info.name} (GPU)` : info.name;

/** Runs a sweep (or one shard of it) in `outDir`; returns the exit code. */
export async function sweepAction(
  io: Io,
  spec: SweepPresetName | SweepSpec,
  outDir: string,
  flags: SweepFlags,
): Promise<number> {
  const shard = resolveShard(flags.shard, flags.shardCount);
  const label = shard ? `shard ${shard.index}/${shard.count}` : 'whole sweep';
  const { result, exitCode } = await withReproductionRuns(
    io,
    flags,
    `${label} in ${outDir}`,
    ({ setup, progress, ...context }): Promise<SweepResult> =>
      runSweep(spec, {
        outDir,
        ...context,
        backend: backendLabel(setup.info),
        ...(shard ? { shard } : {}),
        onRunStart: ({ run, index, count, step, totalSteps }) =>
          progress.start(
            `[${index + 1}/${count}] ${run}: ${totalSteps} steps` +
              `${step > 0 ? `, resuming at step ${step}` : ''}`,
            'step',
            totalSteps,
            step,
          ),
        onStep: (_run, e) => progress.update(e.step, e),
        onRunEnd: (row, { skipped }) =>
          progress.end(
            `  ${row.variant}: ${skipped ? 'already finished' : 'done'}, ` +
              `${row.finalEval.bitsPerByte.toFixed(4)} ± ${row.finalEval.standardError.toFixed(4)} bits/byte`,
          ),
      }),
  );
  const backends = `backend${result.backends.length > 1 ? 's' : ''} ${result.backends.join(', ')}`;
  if (flags.json) io.out(JSON.stringify(result));
  else if (result.stopReason === 'completed') {
    if (result.paths)
      io.out(`report: ${result.paths.report} (${result.rows.length} runs, ${backends})`);
    else
      io.out(
        `shard ${result.shard.index}/${result.shard.count} finished (${result.rows.length} runs, ` +
          `${backends}); ` +
          `when every shard has finished: moderoute reproduce --merge <every shard's ` +
          `directory> --out <report directory>`,
      );
  } else io.err(`interrupted; run the same command again to continue from ${outDir}`);
  return exitCode;
}

/** Merges finished shards into a report in `outDir`; returns the exit code. */
export async function mergeAction(io: Io, dirs: readonly string[], outDir: string, json: boolean) {
  const merged = await mergeSweep(dirs, outDir);
  const backends = merged.shards
    .map((m) => `${m.shard.index}/${m.shard.count} ${m.backends.join('+')}`)
    .join(', ');
  if (json)
    io.out(
      JSON.stringify({
        paths: merged.paths,
        runs: merged.rows.length,
        shards: merged.shards.map((m) => ({ shard: m.shard, backends: m.backends })),
      }),
    );
  else
    io.out(
      `merged ${merged.shards.length} shards, ${merged.rows.length} runs (backends: ${backends}); ` +
        `report: ${merged.paths.report}`,
    );
  return EXIT.ok;
}
