// Parameters a model kind gained after checkpoints of it were written. Kept apart from the
// checkpoint loader (which reads files) so that AdamW, part of the browser entry, can use it
// without pulling node:fs into a bundle.

/**
 * Trainable parameters added to a model kind after checkpoints of it were written, at which zero
 * gives the older model exactly: a checkpoint without them loads them as zeros. The MoD
 * predictor's linear path (`...predictor.linear`, issue 21): at zero, the MLP alone.
 */
const LATER_PARAMETERS: readonly RegExp[] = [/\.predictor\.linear$/];

/** Whether `name` is one of LATER_PARAMETERS (its optimizer moments may be missing too: zeros). */
export function isLaterParameter(name: string): boolean {
  return LATER_PARAMETERS.some((p) => p.test(name));
}
