// Builds the in-browser law page into a folder: page.ts bundled by esbuild for the browser (the
// workspace packages from their TypeScript sources, `node:assert/strict` mapped to
// assertStrict.ts, no Node built-in left: the build fails naming any), mocha's browser build
// beside it, and an index.html loading both.
import { copyFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** Maps the law suites' `node:assert/strict` to the browser stand-in. */
const assertInBrowser: Plugin = {
  name: 'moderoute-assert-in-browser',
  setup(b) {
    b.onResolve({ filter: /^(node:)?assert(\/strict)?$/ }, () => ({
      path: here('assertStrict.ts'),
    }));
  },
};

/** What the page runs: fast-check's seed (default LAW_PAGE_SEED) and a mocha grep (default all). */
export interface LawPageOptions {
  readonly seed?: number | undefined;
  readonly grep?: string | undefined;
}

/** Bundles the law page into `dir` (index.html, page.js, mocha.js). Returns page.js's size. */
export async function bundleLawPage(
  dir: string,
  options: LawPageOptions = {},
): Promise<{ bytes: number }> {
  const { seed, grep } = options;
  const result = await build({
    entryPoints: [here('page.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    outfile: join(dir, 'page.js'),
    conditions: ['@moderoute/source'],
    // The law suites read FC_NUM_RUNS from process.env under Node; the page sets its runs itself.
    define: { 'process.env.FC_NUM_RUNS': 'undefined' },
    plugins: [assertInBrowser],
    metafile: true,
    logLevel: 'silent',
  });
  const outputs = Object.values(result.metafile.outputs);
  const builtins = outputs
    .flatMap((o) => o.imports)
    .filter((i) => i.external || i.path.startsWith('node:'));
  if (builtins.length > 0)
    throw new Error(
      `the law page imports Node built-ins: ${builtins.map((i) => i.path).join(', ')}`,
    );
  copyFileSync(createRequire(import.meta.url).resolve('mocha/mocha.js'), join(dir, 'mocha.js'));
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html>\n<meta charset="utf-8">\n<title>moderoute laws on webgl</title>\n' +
      (seed === undefined ? '' : `<script>globalThis.__moderouteLawSeed = ${seed};</script>\n`) +
      (grep === undefined
        ? ''
        : `<script>globalThis.__moderouteLawGrep = ${JSON.stringify(grep)};</script>\n`) +
      '<script src="mocha.js"></script>\n<script type="module" src="page.js"></script>\n',
  );
  return { bytes: outputs.reduce((sum, o) => sum + o.bytes, 0) };
}
