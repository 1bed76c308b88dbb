#!/usr/bin/env node
// The consumer test: moderoute as a user outside this repository gets it. Packs every package
// (`pnpm -r pack`), installs the tarballs with plain npm into a temporary project outside the
// workspace, and checks, on the installed copies only:
//   1. an ESM program builds MoD and MoE models, trains a few steps, swaps routers by name, and
//      the loss falls (fixtures/train.mjs);
//   2. a strict TypeScript 5 program type-checks under node16 and bundler resolution, without
//      skipLibCheck (fixtures/types.ts; the errors that remain are listed in KNOWN_LIB_ERRORS);
//   3. a plugin package made from examples/02-custom-router-plugin (built to dist, packed,
//      installed) passes the router law suite of the installed @moderoute/testing;
//   4. the installed `moderoute` command runs --version and `train --steps 3` in an empty folder;
//   5. esbuild bundles a browser page over core, routing, blocks, model and train with no Node
//      built-in left, and the bundle sizes are printed;
//   (and, after the install, that @moderoute/train's dependency tree holds no vega: plotting is
//   @moderoute/experiments');
//   6. where /usr/bin/chromium-headless-shell is installed (Debian's chromium-headless-shell),
//      the page runs in it: initBackend() without `process` picks wasm, and webgl once
//      @tensorflow/tfjs-backend-webgl is imported; one training step each (skipped, saying so,
//      where there is no such browser).
// Each check lives in consumer/steps/ (shared.mjs: the paths and the command runner).
// Usage: node consumer/run.mjs [--keep]   (needs the workspace installed; npm's registry or cache)
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkBrowser } from './steps/browser.mjs';
import { bundlePage, printSizes } from './steps/bundle.mjs';
import { checkCli } from './steps/cli.mjs';
import { buildAndPack, installTarballs } from './steps/install.mjs';
import { checkPlugin } from './steps/plugin.mjs';
import { run } from './steps/shared.mjs';
import { checkTypes } from './steps/types.mjs';

const keep = process.argv.includes('--keep');
const started = Date.now();
const timings = [];
const work = mkdtempSync(join(tmpdir(), 'moderoute-consumer-'));

function step(name, body) {
  const t0 = Date.now();
  process.stderr.write(`consumer: ${name}...\n`);
  const result = body();
  timings.push([name, (Date.now() - t0) / 1000]);
  return result;
}

try {
  const tarballs = join(work, 'tarballs');
  step('build and pack every package', () => buildAndPack(tarballs));
  const packed = readdirSync(tarballs)
    .filter((f) => f.endsWith('.tgz'))
    .map((f) => join(tarballs, f));

  const app = join(work, 'app');
  mkdirSync(app);
  step('npm install the tarballs into a project outside the workspace', () =>
    installTarballs(app, packed),
  );

  step('1. ESM program: MoD and MoE models train, routers swap by name, the loss falls', () => {
    process.stderr.write(`  ${run(process.execPath, ['train.mjs'], app).trim()}\n`);
  });

  step('2. strict TypeScript 5 (node16 and bundler resolution, no skipLibCheck)', () =>
    checkTypes(app),
  );

  step('3. a plugin from the example-02 template passes the installed law suite', () =>
    checkPlugin(app, work),
  );

  step('4. the installed CLI: --version and train --steps 3 in an empty folder', () =>
    checkCli(app, work),
  );

  const sizes = step('5. esbuild bundles a browser page with no Node built-in', () =>
    bundlePage(app),
  );
  printSizes(sizes);

  step('6. the page in headless Chromium', () => checkBrowser(app));

  process.stderr.write(
    `consumer: all checks passed in ${((Date.now() - started) / 1000).toFixed(0)} s ` +
      `(${timings.map(([n, s]) => `${n.split(' ')[0]} ${s.toFixed(0)} s`).join(', ')})\n`,
  );
} finally {
  if (keep) process.stderr.write(`consumer: kept ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
}
