// Ctrl-C: the first SIGINT asks the running work to stop at a safe point (the trainer saves a
// checkpoint); a second one exits at once.
import type { Io } from './output.js';

export async function withInterrupt<T>(io: Io, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    io.err('\ninterrupt: finishing the current step and saving a checkpoint (Ctrl-C again to quit at once)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}
