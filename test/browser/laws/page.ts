// The in-browser law page (bundled by bundleLawPage.ts, run by test/browser/laws.spec.ts): mocha's
// browser build runs, on tfjs's webgl backend, the router and block law suites of
// @moderoute/testing for the catalogue's routers and blocks, and agreement suites that run the
// same routers and blocks on cpu and on webgl in this page and compare them. fast-check runs with
// one fixed seed (the page's __moderouteLawSeed overrides it). The report goes to
// globalThis.__moderouteLawReport.
import '@tensorflow/tfjs-backend-webgl';
import fc from 'fast-check';
import { initBackend, tf } from '@moderoute/core';
import { blockLaws, routerLaws } from '@moderoute/testing';
import { countCase, newCounter } from './agreement.js';
import { blockAgreement } from './blockAgreement.js';
import { BLOCKS } from './blockCatalogue.js';
import { PRIMITIVES_SUITE, primitivesAgreement } from './primitivesAgreement.js';
import type { LawTestResult, SuiteCounter } from './report.js';
import { routerAgreement } from './routerAgreement.js';
import { ROUTERS } from './routerCatalogue.js';
import {
  LAW_PAGE_RUNS,
  LAW_PAGE_SEED,
  agreementSuite,
  blockLawSuite,
  routerLawSuite,
} from './suites.js';

const started = performance.now();
const seed = globalThis.__moderouteLawSeed ?? LAW_PAGE_SEED;
const counters: Record<string, SuiteCounter> = {};
const counter = (suite: string) => (counters[suite] ??= newCounter());
const results: LawTestResult[] = [];
/** The backend initBackend activated for the page. */
let startedOn = 'none';

/** Mocha reporter: one record per test (and per failed hook), then the report. */
class Collector extends Mocha.reporters.Base {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    const record = (test: Mocha.Runnable, state: LawTestResult['state'], error?: Error) =>
      results.push({
        suite: test.titlePath()[0] ?? '',
        title: test.fullTitle(),
        state,
        ms: test.duration ?? 0,
        ...(error ? { error: describeError(error) } : {}),
      });
    runner.on('pass', (test) => record(test, 'passed'));
    runner.on('fail', (test, error) => record(test, 'failed', error));
    runner.on('end', () => {
      globalThis.__moderouteLawReport = {
        results,
        counters,
        seed,
        webgl: { ...webglFlags(), backend: startedOn, tfjs: tf.version_core },
        durationMs: performance.now() - started,
      };
    });
  }
}

/**
 * An error's message with its causes (fast-check puts the failing assertion in `cause`), and the
 * innermost error's first stack frames (which kernel or law threw).
 */
function describeError(error: unknown): string {
  const parts: string[] = [];
  let inner = error;
  for (let e = error; e !== undefined && parts.length < 4; e = (e as Error).cause) {
    parts.push(e instanceof Error ? e.message : JSON.stringify(e));
    inner = e;
  }
  const frames =
    inner instanceof Error ? (inner.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l)) : [];
  return [parts.join('\ncaused by: '), ...frames.slice(0, 12)].join('\n');
}

/** A RegExp matching `text` literally (mocha's grep is a pattern; suite titles hold brackets). */
function literal(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

function webglFlags(): Record<string, unknown> {
  const names = ['WEBGL_VERSION', 'WEBGL_RENDER_FLOAT32_ENABLED', 'WEBGL_PACK'] as const;
  const flags: Record<string, unknown> = Object.fromEntries(names.map((n) => [n, tf.env().get(n)]));
  for (const n of ['WEBGL_CPU_FORWARD', 'WEBGL_USE_SHAPES_UNIFORMS']) flags[n] = tf.env().get(n);
  return flags;
}

function declareSuites(): void {
  describe(PRIMITIVES_SUITE, () =>
    primitivesAgreement(counter(PRIMITIVES_SUITE), LAW_PAGE_RUNS.primitives),
  );
  for (const entry of ROUTERS) {
    if (entry.laws) {
      const laws = counter(routerLawSuite(entry.name));
      routerLaws(
        entry.name,
        (c, scope) => {
          countCase(laws, tf.getBackend());
          return entry.make(c, scope);
        },
        { ...entry.options, backends: ['webgl'], numRuns: LAW_PAGE_RUNS.routerLaws },
      );
    }
    const suite = agreementSuite(entry.name);
    describe(suite, () => routerAgreement(entry, counter(suite), LAW_PAGE_RUNS.routerAgreement));
  }
  for (const entry of BLOCKS) {
    if (entry.laws) {
      const laws = counter(blockLawSuite(entry.name));
      blockLaws(
        entry.name,
        () => {
          const made = entry.make();
          const block = {
            forward: (...args: Parameters<typeof made.block.forward>) => {
              countCase(laws, tf.getBackend());
              return made.block.forward(...args);
            },
            decoder: (...args: Parameters<typeof made.block.decoder>) =>
              made.block.decoder(...args),
          };
          return { block, store: made.store, dispose: made.dispose };
        },
        { ...entry.options, backends: ['webgl'], numRuns: LAW_PAGE_RUNS.blockLaws },
      );
    }
    const suite = agreementSuite(entry.name);
    describe(suite, () => blockAgreement(entry, counter(suite), LAW_PAGE_RUNS.blockAgreement));
  }
}

try {
  // Failures name the kernel and the law that threw: more frames than V8's default 10.
  Error.stackTraceLimit = 40;
  fc.configureGlobal({ seed });
  // Every kernel on the GPU: tfjs's webgl otherwise hands small tensors (all of the laws') to its
  // cpu kernels. Shapes as uniforms: one compiled shader serves the laws' many random shapes.
  tf.env().set('WEBGL_CPU_FORWARD', false);
  tf.env().set('WEBGL_USE_SHAPES_UNIFORMS', true);
  const info = await initBackend({ backend: 'webgl' });
  startedOn = tf.getBackend();
  if (info.name !== 'webgl' || startedOn !== 'webgl')
    throw new Error(`initBackend gave ${info.name} (active: ${startedOn}), not webgl`);
  const grep = globalThis.__moderouteLawGrep;
  mocha.setup({
    ui: 'bdd',
    reporter: Collector,
    timeout: 120_000,
    ...(grep ? { grep: literal(grep) } : {}),
  });
  declareSuites();
  mocha.run();
} catch (error) {
  globalThis.__moderouteLawError = describeError(error);
}
