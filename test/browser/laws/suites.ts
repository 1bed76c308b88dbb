// The law page's fixed settings and suite titles, shared by the page and the spec that reads its
// report (so the spec knows which suites must have run, whatever the page reports).

/** fast-check's seed for every property of the page (the spec's FC_SEED overrides it). */
export const LAW_PAGE_SEED = 20261207;

/** Property runs per law and per agreement test (kept small: shaders compile per program). */
export const LAW_PAGE_RUNS = {
  primitives: 8,
  routerLaws: 2,
  routerAgreement: 4,
  blockLaws: 2,
  blockAgreement: 3,
} as const;

/** The title of a router's law suite (routerLaws' describe). */
export const routerLawSuite = (name: string) => `${name} (router laws)`;
/** The title of a block's law suite (blockLaws' describe). */
export const blockLawSuite = (name: string) => `${name} (block laws)`;
/** The title of a router's or block's agreement suite. */
export const agreementSuite = (name: string) => `${name} (webgl vs cpu)`;

/**
 * The entries of a law catalogue the page checks, by name, each with whether its law suite runs on
 * webgl too (`selection`: name -> laws); throws naming an entry the catalogue lacks (renamed?).
 */
export function onThePage<E extends { readonly name: string }>(
  catalogue: readonly E[],
  selection: Readonly<Record<string, boolean>>,
): (E & { readonly laws: boolean })[] {
  return Object.entries(selection).map(([name, laws]) => {
    const entry = catalogue.find((e) => e.name === name);
    if (entry === undefined) throw new Error(`the law catalogue has no "${name}"`);
    return { ...entry, laws };
  });
}
