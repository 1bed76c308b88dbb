// Comparing named shapes (a model's parameters, an optimizer's or a checkpoint's tensors).
import { tf } from '@moderoute/core';

/**
 * Compares expected names and shapes with actual ones; returns one message per difference
 * (missing, unexpected, wrong shape), at most 8 of each kind, empty when they agree.
 */
export function compareShapes(
  expected: ReadonlyMap<string, readonly number[]>,
  actual: ReadonlyMap<string, readonly number[]>,
): string[] {
  const list = (xs: string[]) =>
    xs.length > 8 ? `${xs.slice(0, 8).join(', ')} and ${xs.length - 8} more` : xs.join(', ');
  const missing = [...expected.keys()].filter((k) => !actual.has(k));
  const unexpected = [...actual.keys()].filter((k) => !expected.has(k));
  const wrong = [...expected]
    .filter(
      ([k, s]) => actual.has(k) && !tf.util.arraysEqual(actual.get(k) as number[], s as number[]),
    )
    .map(
      ([k, s]) =>
        `${k} has shape [${(actual.get(k) as number[]).join(', ')}], expected [${s.join(', ')}]`,
    );
  const out: string[] = [];
  if (missing.length) out.push(`missing ${list(missing)}`);
  if (unexpected.length) out.push(`unexpected ${list(unexpected)}`);
  if (wrong.length) out.push(list(wrong));
  return out;
}
