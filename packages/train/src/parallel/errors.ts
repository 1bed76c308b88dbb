// The error of data-parallel training (DataParallel.ts, ShardedAdamW.ts).
import { ModerouteError } from '@moderoute/core';

/** A replica worker failed (its model, its backend, or the thread itself), or a stepper or optimizer of a detached model was used. */
export class ReplicaError extends ModerouteError {
  override readonly name = 'ReplicaError';
}
