// Stopping a run from outside: the first SIGINT (Ctrl-C), SIGTERM (`timeout`, `docker stop`,
// Kubernetes, Slurm) or SIGHUP (a closed terminal) asks the running work to stop at a safe point
// (the trainer finishes its step and saves a checkpoint); a second one exits at once. The exit
// code is 128 + the signal's number, as shells report a death by that signal: 130, 143, 129.
import type { Io } from './output.js';

/** The signals handled, with their exit codes. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

export type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

/** The exit code of work stopped by `signal` (its abort reason names the signal); 130 when unknown. */
export function interruptExitCode(signal: AbortSignal): number {
  const reason = signal.reason as unknown;
  return typeof reason === 'string' && reason in SIGNAL_EXIT_CODES
    ? SIGNAL_EXIT_CODES[reason as StopSignal]
    : SIGNAL_EXIT_CODES.SIGINT;
}

export async function withInterrupt<T>(
  io: Io,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const handlers = (Object.keys(SIGNAL_EXIT_CODES) as StopSignal[]).map((name) => {
    const handler = () => {
      if (controller.signal.aborted) process.exit(SIGNAL_EXIT_CODES[name]);
      const again = name === 'SIGINT' ? 'Ctrl-C again' : `${name} again`;
      io.err(
        `\n${name === 'SIGINT' ? 'interrupt' : name}: finishing the current step and ` +
          `saving a checkpoint (${again} to quit at once)`,
      );
      controller.abort(name);
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  try {
    return await work(controller.signal);
  } finally {
    for (const [name, handler] of handlers) process.off(name, handler);
  }
}
