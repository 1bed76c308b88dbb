// A progress bar for long loops (training, evaluation, sweeps) on top of cli-progress: step/total,
// loss, tokens/s and ETA on an interactive terminal; silent when the stream is not a TTY or the
// caller is in --json mode (the caller then logs JSON itself).
import cliProgress from 'cli-progress';

/** Options of a progress bar. */
export interface ProgressOptions {
  /** Total steps. */
  readonly total: number;
  /** A label before the bar (e.g. the run name). */
  readonly label?: string;
  /** --json mode: draw nothing. */
  readonly json?: boolean;
  /** Where to draw (default process.stderr, so stdout stays clean for results). */
  readonly stream?: NodeJS.WriteStream;
}

/** Per-update values. */
export interface ProgressValues {
  readonly loss?: number;
  readonly tokensPerSecond?: number;
}

const fmt = (x: number | undefined, digits: number) =>
  x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);

/** Step/total, loss, tokens/s and ETA; a no-op when not attached to a TTY or in JSON mode. */
export class ProgressReporter {
  /** Whether anything is drawn. */
  readonly enabled: boolean;
  private readonly bar: cliProgress.SingleBar | undefined;
  private started = false;

  constructor(readonly options: ProgressOptions) {
    const stream = options.stream ?? process.stderr;
    this.enabled = options.json !== true && stream.isTTY === true;
    if (this.enabled) {
      this.bar = new cliProgress.SingleBar(
        {
          stream,
          format:
            `${options.label ? `${options.label} ` : ''}{bar} {value}/{total} | loss {loss} ` +
            `| {tps} tok/s | ETA {eta_formatted}`,
          etaBuffer: 20,
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  /** Shows the bar at `step` (default 0, e.g. the step a resumed run starts from). */
  start(step = 0): void {
    this.bar?.start(this.options.total, step, { loss: '-', tps: '-' });
    this.started = true;
  }

  /** Moves to `step` with the latest values. */
  update(step: number, values: ProgressValues = {}): void {
    if (!this.started) this.start();
    this.bar?.update(step, { loss: fmt(values.loss, 4), tps: fmt(values.tokensPerSecond, 0) });
  }

  /** Finishes the bar (leaves its last state on screen). */
  stop(): void {
    if (this.started) this.bar?.stop();
    this.started = false;
  }
}
