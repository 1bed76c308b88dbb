// One data-parallel worker thread (a replica of a ReplicaPool, DataParallel.ts): how it is
// started, and its request/reply channel (one request at a time).
import type { Worker } from 'node:worker_threads';
import { ModerouteError } from '@moderoute/core';
import type { FromReplica, PeakReply, ReadyReply, StepReply, ToReplica } from './protocol.js';

/** A replica worker failed (its model, its backend, or the thread itself). */
export class ReplicaError extends ModerouteError {
  override readonly name = 'ReplicaError';
}

/** How a worker thread starts the replica entry: built .js directly, sources through tsx. */
export function workerEntry(): { file: URL; workerData: Record<string, unknown> } {
  const here = import.meta.url;
  if (/\.[cm]?ts$/.test(new URL(here).pathname)) {
    return {
      file: new URL('./tsxWorkerBoot.mjs', here),
      workerData: { entry: new URL('./replicaWorker.ts', here).href },
    };
  }
  return { file: new URL('./replicaWorker.js', here), workerData: {} };
}

type Reply = ReadyReply | StepReply | PeakReply;

interface Pending {
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: Error) => void;
}

/** One worker thread: one request at a time, each answered by one reply or an error. */
export class ReplicaThread {
  private pending: Pending | undefined;
  private failure: Error | undefined;
  private closing = false;

  constructor(
    readonly index: number,
    private readonly worker: Worker,
  ) {
    worker.on('message', (message: FromReplica) => {
      if (message.type === 'error')
        this.settle(new ReplicaError(`data-parallel replica ${index} failed: ${message.message}`));
      else this.settle(undefined, message);
    });
    worker.on('error', (error) =>
      this.fail(new ReplicaError(`data-parallel replica ${index} failed: ${error.message}`)),
    );
    worker.on('exit', (code) => {
      if (!this.closing)
        this.fail(
          new ReplicaError(
            `data-parallel replica ${index} stopped unexpectedly (exit code ${code})`,
          ),
        );
    });
    // Idle replicas do not keep the process alive; a request in flight does (ref in post).
    worker.unref();
  }

  /** Sends one request and resolves with its reply; rejects on an error reply or a dead thread. */
  post<R extends Reply>(
    message: ToReplica,
    transfer: ArrayBuffer[] = [],
    timeoutMs?: number,
  ): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending)
      return Promise.reject(
        new ReplicaError(`data-parallel replica ${this.index} is busy: one request at a time`),
      );
    this.worker.ref();
    const reply = new Promise<R>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(
              () =>
                this.settle(
                  new ReplicaError(
                    `data-parallel replica ${this.index} did not answer "${message.type}" within ${timeoutMs / 1000} s`,
                  ),
                ),
              timeoutMs,
            );
      const clear = () => clearTimeout(timer);
      this.pending = {
        resolve: (r) => (clear(), resolve(r as R)),
        reject: (e) => (clear(), reject(e)),
      };
    });
    this.worker.postMessage(message, transfer);
    return reply;
  }

  private settle(error: Error | undefined, reply?: Reply): void {
    const pending = this.pending;
    this.pending = undefined;
    this.worker.unref();
    if (pending === undefined) return;
    if (error) pending.reject(error);
    else pending.resolve(reply!);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.settle(error);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.settle(
      new ReplicaError(`data-parallel replica ${this.index} was closed during a request`),
    );
    await this.worker.terminate();
  }
}
