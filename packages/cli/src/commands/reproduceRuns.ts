// What `moderoute reproduce` does around its runs, for comparisons and sweeps alike: the backend
// and replicas, the model factory and corpus cache, one progress bar per run, the interrupt that
// stops between steps, and the exit code of the outcome.
import { MODEL_IDS, createContainer, type ModelFactory } from '@moderoute/model';
import { CorpusCache, ProgressReporter, type ReplicaPool } from '@moderoute/train';
import { EXIT, type Io } from '../output.js';
import {
  describeTraining,
  startTraining,
  type TrainingSetup,
  type ReplicasFlag,
} from '../options.js';
import { interruptExitCode, withInterrupt } from '../signals.js';

/** The flags every reproduction has for its runs. */
export interface RunFlags {
  maxDataBytes?: number;
  backend?: string;
  threads?: number;
  replicas?: ReplicasFlag;
  json: boolean;
}

/** One progress bar per run, with a line on stderr as each run starts and ends (not in JSON). */
export class RunProgress {
  private bar: ProgressReporter | undefined;

  constructor(
    private readonly io: Io,
    private readonly json: boolean,
  ) {}

  /** A run starts (or resumes at `step`): its line, then a fresh bar over `total` steps. */
  start(line: string, label: string, total: number, step: number): void {
    this.stop();
    if (!this.json) this.io.err(line);
    this.bar = new ProgressReporter({ total, label, json: this.json });
    this.bar.start(step);
  }

  /** A step finished. */
  update(step: number, e: { loss: number; tokensPerSecond: number }): void {
    this.bar?.update(step, { loss: e.loss, tokensPerSecond: e.tokensPerSecond });
  }

  /** The run ended: the bar stops, then its line. */
  end(line: string): void {
    this.stop();
    if (!this.json) this.io.err(line);
  }

  /** Stops the bar, if any. */
  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

/** What the runs get from {@link withReproductionRuns}. */
export interface RunContext {
  readonly setup: TrainingSetup;
  readonly modelFactory: ModelFactory;
  readonly corpusCache: CorpusCache;
  /** Replicas of each run's step (spare ones sit a step out: DataParallel). */
  readonly replicas: ReplicaPool | 1;
  readonly signal: AbortSignal;
  readonly progress: RunProgress;
}

/**
 * Starts the backend and replicas, prints them with `where` ("report in DIR", ...), runs `body`
 * under the interrupt, and closes the pool and the progress bar whatever happens. Returns the
 * body's result and the command's exit code (0 when it completed, the signal's code when one
 * stopped it).
 */
export async function withReproductionRuns<R extends { stopReason: string }>(
  io: Io,
  flags: RunFlags,
  where: string,
  body: (context: RunContext) => Promise<R>,
): Promise<{ result: R; exitCode: number }> {
  const setup = await startTraining(flags, Number.POSITIVE_INFINITY);
  if (!flags.json) io.err(`backend: ${describeTraining(setup)}; ${where}`);
  const progress = new RunProgress(io, flags.json);
  let stopSignal: AbortSignal | undefined;
  const result = await withInterrupt(io, (signal) => {
    stopSignal = signal;
    return body({
      setup,
      modelFactory: createContainer().get(MODEL_IDS.ModelFactory),
      corpusCache: new CorpusCache(
        flags.maxDataBytes !== undefined ? { maxBytes: flags.maxDataBytes } : {},
      ),
      replicas: setup.pool ?? 1,
      signal,
      progress,
    });
  }).finally(async () => {
    progress.stop();
    await setup.pool?.close();
  });
  const exitCode =
    result.stopReason === 'completed'
      ? EXIT.ok
      : stopSignal
        ? interruptExitCode(stopSignal)
        : EXIT.interrupted;
  return { result, exitCode };
}
