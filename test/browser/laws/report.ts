// What the in-browser law page (page.ts) hands back to test/browser/laws.spec.ts through a global:
// one record per mocha test run in the page, the cases each suite ran and on which backends, the
// worst webgl-vs-cpu difference each agreement suite saw, and the webgl settings in force.

/** One test the page ran. */
export interface LawTestResult {
  /** The test's top-level describe: a catalogue entry's suite title (see catalogue names). */
  readonly suite: string;
  /** The full title (describe path and test). */
  readonly title: string;
  readonly state: 'passed' | 'failed';
  readonly ms: number;
  /** On failure: the message, fast-check's seed and path, and the assertion behind it. */
  readonly error?: string;
}

/** What one suite ran: cases (routers built, block forwards, compared cases) and where. */
export interface SuiteCounter {
  /** Cases run (law suites: routers made or block forward calls; agreement: cases compared). */
  cases: number;
  /** Agreement suites: cases whose decisions differed at a near-tie and were not compared. */
  nearTies: number;
  /** Backends the cases ran on. */
  backends: string[];
  /** Agreement suites: the largest |webgl - cpu| / (atol + rtol |cpu|) seen, and where. */
  worst: { readonly ratio: number; readonly absDiff: number; readonly what: string };
}

/** The page's report. */
export interface LawPageReport {
  readonly results: readonly LawTestResult[];
  readonly counters: Readonly<Record<string, SuiteCounter>>;
  /** The fast-check seed every property in the page ran with. */
  readonly seed: number;
  /** tfjs webgl flags and version the page ran with. */
  readonly webgl: Readonly<Record<string, unknown>>;
  readonly durationMs: number;
}

declare global {
  /** Set by the law page when its run ends (read by the spec through playwright). */
  var __moderouteLawReport: LawPageReport | undefined;
  /** The fast-check seed the page runs with (set by index.html; default LAW_PAGE_SEED). */
  var __moderouteLawSeed: number | undefined;
  /** Only the page's tests whose full title contains this (set by index.html; default all). */
  var __moderouteLawGrep: string | undefined;
  /** Set by the law page when it could not start. */
  var __moderouteLawError: string | undefined;
}
