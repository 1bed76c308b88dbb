// The fixed numbers that derive one seed from another where two things built from one seed must
// draw differently. Every saved model's initial weights depend on them: changing one changes the
// weights of every model built afterwards from the same config.

/** Multiplier spreading a model's seed over its blocks: block i gets `seed * M + S * i + 1`. */
export const BLOCK_SEED_MULTIPLIER = 1_000_003;
/** Step between consecutive blocks' seeds (S above). */
export const BLOCK_SEED_STEP = 7;
/** A staged MoDE block's expert router is seeded this far (a prime) from its depth router. */
export const STAGED_EXPERT_ROUTER_SEED_OFFSET = 7919;
/** Multiplier (2^32 / golden ratio) spreading a store's seed before a parameter name's hash. */
export const PARAMETER_SEED_MULTIPLIER = 0x9e3779b1;
