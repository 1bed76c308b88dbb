// The training text (the embedded corpus of corpus.ts, or the user's), split into training and
// validation parts and checked against the context length.

/** The share of the text held out for validation (its end). */
export const VALIDATION_FRACTION = 0.1;

/** The text's training part (its first 90%) and validation part (the rest), cut at a character. */
export function splitText(text: string): { train: string; validation: string } {
  const cut = Math.floor(text.length * (1 - VALIDATION_FRACTION));
  return { train: text.slice(0, cut), validation: text.slice(cut) };
}

/**
 * Why `text` cannot train a model with this context (each part must hold one window of
 * context + 1 bytes), or undefined when it can.
 */
export function textProblem(text: string, contextLength: number): string | undefined {
  const { train, validation } = splitText(text);
  const bytes = (s: string) => new TextEncoder().encode(s).length;
  const need = contextLength + 1;
  const total = bytes(text);
  if (bytes(train) >= need && bytes(validation) >= need) return undefined;
  const least = Math.ceil(need / VALIDATION_FRACTION);
  return (
    `The text is too short for a context of ${contextLength}: it has ${total} bytes, and ` +
    `its last ${VALIDATION_FRACTION * 100}% (validation) must hold ${need} bytes, so give at ` +
    `least about ${least} bytes, or lower the context.`
  );
}
