// The router and block law suites on a GPU-style backend: the law page (test/browser/laws) runs
// in Debian's headless Chromium on tfjs's webgl backend (SwiftShader), the law suites on webgl and
// agreement suites that compare every catalogue router and block on webgl with cpu in the same
// page. Each suite of the page is one test here; it fails listing the failed laws with
// fast-check's seed and path, and when a suite ran no case. Skips, saying so, without Chromium.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleLawPage } from './laws/bundleLawPage.js';
import { BLOCKS } from './laws/blockCatalogue.js';
import { PRIMITIVES_SUITE } from './laws/primitivesAgreement.js';
import type { LawPageReport } from './laws/report.js';
import { ROUTERS } from './laws/routerCatalogue.js';
import { agreementSuite, blockLawSuite, routerLawSuite } from './laws/suites.js';
import {
  CHROMIUM_PATH,
  collectPageErrors,
  hasChromium,
  launchChromium,
  serveDirectory,
} from './chromium.js';

const seed = process.env['FC_SEED'] === undefined ? undefined : Number(process.env['FC_SEED']);
/** Runs only the suites whose title contains this (to debug one router or block). */
const grep = process.env['MODEROUTE_LAW_GREP'] || undefined;

/** The suites the page must have run, each with the backends its cases must have used. */
const SUITES: readonly (readonly [string, readonly string[]])[] = [
  [PRIMITIVES_SUITE, ['cpu', 'webgl']],
  ...ROUTERS.flatMap((r) => [
    ...(r.laws ? [[routerLawSuite(r.name), ['webgl']] as const] : []),
    [agreementSuite(r.name), ['cpu', 'webgl']] as const,
  ]),
  ...BLOCKS.flatMap((b) => [
    ...(b.laws ? [[blockLawSuite(b.name), ['webgl']] as const] : []),
    [agreementSuite(b.name), ['cpu', 'webgl']] as const,
  ]),
];
const EXPECTED = SUITES.filter(([suite]) => grep === undefined || suite.includes(grep));

describe('the law suites in Chromium on webgl', () => {
  let report: LawPageReport | undefined;
  let pageErrors: string[] = [];

  before(async function () {
    if (!hasChromium()) {
      console.log(`    (skipped: no ${CHROMIUM_PATH}; apt-get install chromium-headless-shell)`);
      this.skip();
    }
    this.timeout(300_000);
    const dir = mkdtempSync(join(tmpdir(), 'moderoute-laws-'));
    const server = await bundleLawPage(dir, { seed, grep }).then(() => serveDirectory(dir));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      pageErrors = collectPageErrors(page);
      await page.goto(server.url);
      await page.waitForFunction(
        () => globalThis.__moderouteLawReport ?? globalThis.__moderouteLawError,
        null,
        { timeout: 280_000, polling: 250 },
      );
      const { failed, done } = await page.evaluate(() => ({
        failed: globalThis.__moderouteLawError,
        done: globalThis.__moderouteLawReport,
      }));
      if (failed !== undefined) throw new Error(`the law page could not start: ${failed}`);
      report = done;
    } finally {
      await browser.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should run on webgl 2 with float32 textures, with no page or console error', () => {
    assert.deepEqual(pageErrors, [], 'errors in the page');
    const webgl = report!.webgl;
    assert.equal(webgl['backend'], 'webgl', 'the backend initBackend activated');
    assert.equal(webgl['WEBGL_VERSION'], 2, 'webgl version');
    assert.equal(webgl['WEBGL_RENDER_FLOAT32_ENABLED'], true, 'float32 render targets');
    assert.equal(webgl['WEBGL_CPU_FORWARD'], false, 'small kernels handed to the cpu');
  });

  it('should run no suite the spec does not know of', () => {
    const known = new Set(EXPECTED.map(([suite]) => suite));
    const unknown = [...new Set(report!.results.map((r) => r.suite))].filter((s) => !known.has(s));
    assert.deepEqual(unknown, [], 'suites outside the catalogue (a failed hook?)');
  });

  for (const [suite, backends] of EXPECTED) {
    it(`should pass: ${suite}`, () => {
      const results = report!.results.filter((r) => r.suite === suite);
      const counter = report!.counters[suite];
      assert.ok(results.length > 0, `${suite}: no test ran`);
      const failed = results.filter((r) => r.state === 'failed');
      assert.ok(
        failed.length === 0,
        `${failed.length} of ${results.length} failed (fast-check seed ${report!.seed}):\n` +
          failed.map((r) => `- ${r.title}\n  ${r.error?.replaceAll('\n', '\n  ')}`).join('\n'),
      );
      assert.ok(counter !== undefined && counter.cases > 0, `${suite}: no case ran`);
      assert.deepEqual([...counter.backends].sort(), [...backends], `${suite}: backends`);
      assert.ok(counter.nearTies <= counter.cases, `${suite}: more near-ties than cases compared`);
    });
  }

  after(() => {
    if (report === undefined) return;
    console.log(
      `      law page: ${(report.durationMs / 1000).toFixed(1)} s in Chromium, seed ${report.seed}`,
    );
    for (const [suite] of EXPECTED) {
      const c = report.counters[suite];
      const ms = report.results.filter((r) => r.suite === suite).reduce((sum, r) => sum + r.ms, 0);
      const worst =
        c && c.worst.ratio > 0
          ? `; worst |webgl - cpu| ${c.worst.absDiff.toExponential(1)} ` +
            `(${(c.worst.ratio * 100).toFixed(1)}% of the tolerance) at ${c.worst.what}`
          : '';
      const ties = c && c.nearTies > 0 ? `, ${c.nearTies} skipped at near-ties` : '';
      console.log(
        `      ${suite}: ${c?.cases ?? 0} cases${ties}, ${(ms / 1000).toFixed(1)} s${worst}`,
      );
    }
  });
});
