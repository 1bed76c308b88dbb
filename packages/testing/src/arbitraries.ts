// fast-check arbitraries for shapes and configs shared by the test suites.
import fc from 'fast-check';

/** A small dimension in [min, max]. */
export const dim = (min = 1, max = 8): fc.Arbitrary<number> => fc.integer({ min, max });

/** A matrix shape pair for x [n, i] and w [i, o]. */
export const linearShapes = (max = 12) =>
  fc.record({
    n: dim(1, max),
    i: dim(1, max),
    o: dim(1, max),
    bias: fc.boolean(),
    seed: fc.nat(1e6),
  });

/** An attention shape: batch, tokens, heads, head width. */
export const attentionShapes = () =>
  fc.record({
    b: dim(1, 2),
    t: dim(1, 6),
    h: dim(1, 3),
    dh: dim(1, 4),
    causal: fc.boolean(),
    seed: fc.nat(1e6),
  });

/** Property-run settings that keep the suite fast on 2 cores (override with FC_NUM_RUNS). */
export function runs(defaultRuns: number): { numRuns: number } {
  const env = Number(process.env['FC_NUM_RUNS']);
  return { numRuns: Number.isInteger(env) && env > 0 ? env : defaultRuns };
}

/** One random routing problem for the router law suite (see routerLaws). */
export interface RouterLawCase {
  /** B */
  readonly batch: number;
  /** T */
  readonly tokens: number;
  /** D */
  readonly dModel: number;
  /** E */
  readonly numExperts: number;
  /** K, in [1, E] */
  readonly topK: number;
  /** Capacity factor f for expert routers. */
  readonly capacityFactor: number;
  /** Fraction of each sequence for Mixture-of-Depths routers, in (0, 1]. */
  readonly capacityFraction: number;
  /** Whether the router must be dropless (set by the dropless law; false in generated cases). */
  readonly dropless: boolean;
  /** Seed of the router weights. */
  readonly seed: number;
  /** Seed of the inputs. */
  readonly inputSeed: number;
  /** Whether the case carries a random padding mask (at least one real token per sequence). */
  readonly masked: boolean;
  /** Whether tokens repeat (x[b, t] = x[b, t mod 2]), which makes exact score ties. */
  readonly duplicateTokens: boolean;
}

/** Batch sizes B. */
export const batchSizes = (max = 3) => dim(1, max);
/** Tokens per sequence T. */
export const tokenCounts = (max = 8) => dim(1, max);
/** Model widths D. */
export const modelWidths = (max = 6) => dim(1, max);
/** Expert counts E. */
export const expertCounts = (max = 5) => dim(1, max);
/** (E, K) with 1 <= K <= E. */
export const expertsAndTopK = (maxExperts = 5, maxK = 3) =>
  expertCounts(maxExperts).chain((e) =>
    fc.record({ numExperts: fc.constant(e), topK: dim(1, Math.min(e, maxK)) }),
  );
/** Capacity factors, small enough to drop tokens and large enough not to. */
export const capacityFactors = () => fc.constantFrom(0.25, 0.5, 1, 1.25, 2, 4);
/** Mixture-of-Depths capacity fractions in (0, 1]. */
export const capacityFractions = () => fc.constantFrom(0.125, 0.25, 0.3, 0.5, 0.75, 1);

/** A whole RouterLawCase. */
export const routerLawCases = (): fc.Arbitrary<RouterLawCase> =>
  fc
    .record({
      batch: batchSizes(),
      tokens: tokenCounts(),
      dModel: modelWidths(),
      experts: expertsAndTopK(),
      capacityFactor: capacityFactors(),
      capacityFraction: capacityFractions(),
      seed: fc.nat(1e6),
      inputSeed: fc.nat(1e6),
      masked: fc.boolean(),
      duplicateTokens: fc.boolean(),
    })
    .map(({ experts, ...rest }) => ({ ...rest, ...experts, dropless: false }));
