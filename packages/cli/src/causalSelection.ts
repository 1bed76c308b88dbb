// The causal-selection guard of `eval --routing causal` and `generate`: each routed block's
// selected fraction under the causal rule, warned about on stderr when it is off capacity by
// more than the tolerance or zero (checks from @moderoute/model's causalSelection.ts).
import { selectionWarnings, type SelectionCheck } from '@moderoute/model';
import type { Io } from './output.js';

/** Writes one warning line per failed check to stderr; returns the checks' JSON form (for --json). */
export function reportCausalSelection(
  io: Io,
  checks: readonly SelectionCheck[],
): { selection: readonly SelectionCheck[]; warnings: string[] } {
  const warnings = selectionWarnings(checks);
  for (const w of warnings) io.err(w);
  return { selection: checks, warnings };
}
