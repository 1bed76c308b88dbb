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
// Usage: node consumer/run.mjs [--keep]   (needs the workspace installed; npm's registry or cache)
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkTrainAlone } from './trainAlone.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = join(ROOT, 'consumer', 'fixtures');
const PNPM = ['--yes', 'pnpm@12.4.2'];
// Versions the consumer installs beside the tarballs (the peers and the tools of the checks).
const CHROMIUM = '/usr/bin/chromium-headless-shell';
const CONSUMER_DEPS = [
  ...(existsSync(CHROMIUM)
    ? ['playwright-core@1.65.2', '@tensorflow/tfjs-backend-webgl@4.22.0']
    : []),
  '@tensorflow/tfjs-core@4.22.0',
  'typescript@5.9.3',
  'esbuild@0.28.2',
  'mocha@12',
  '@types/mocha@10',
  '@types/node@20',
  'inversify@8',
  'reflect-metadata@0.2.2',
];
// Errors tsc reports without skipLibCheck in third-party declarations, none in moderoute's: tfjs's
// own (tfjs-core names DOM types and `Long` under a Node lib; tfjs-backend-wasm names Emscripten's
// global `EmscriptenModule` without depending on its types), @webgpu/types (a dependency of
// tfjs-core, DOM names). Anything else fails the check.
const KNOWN_LIB_ERRORS = [/^node_modules\/@tensorflow\//, /^node_modules\/@webgpu\/types\//];

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

function run(cmd, args, cwd, options = {}) {
  try {
    return execFileSync(cmd, args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      maxBuffer: 64 << 20,
    });
  } catch (error) {
    if (options.allowFailure) return `${error.stdout ?? ''}${error.stderr ?? ''}`;
    throw new Error(
      `${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`,
    );
  }
}

try {
  const tarballs = join(work, 'tarballs');
  step('build and pack every package', () => {
    run(process.execPath, [join(ROOT, 'packages/core/scripts/bundle-tfjs-gradients.mjs')], ROOT);
    run('npx', ['tsc', '-b'], ROOT);
    run(
      'npx',
      [...PNPM, '-r', '--filter', './packages/**', 'pack', '--pack-destination', tarballs],
      ROOT,
    );
  });
  const packed = readdirSync(tarballs)
    .filter((f) => f.endsWith('.tgz'))
    .map((f) => join(tarballs, f));

  const app = join(work, 'app');
  mkdirSync(app);
  step('npm install the tarballs into a project outside the workspace', () => {
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'moderoute-consumer', private: true, type: 'module' }, null, 2),
    );
    run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--loglevel=error',
        ...packed,
        ...CONSUMER_DEPS,
      ],
      app,
    );
    for (const f of readdirSync(FIXTURES)) cpSync(join(FIXTURES, f), join(app, f));
    // One tfjs-core in the tree: the consumer's.
    const copies = run('npm', ['ls', '@tensorflow/tfjs-core', '--all', '--parseable'], app, {
      allowFailure: true,
    })
      .trim()
      .split('\n')
      .filter((l) => l.endsWith('tfjs-core'));
    if (new Set(copies).size !== 1)
      throw new Error(`expected one @tensorflow/tfjs-core, found:\n${copies.join('\n')}`);
    if (existsSync(join(app, 'node_modules/@tensorflow/tfjs')))
      throw new Error('the union @tensorflow/tfjs package was installed');
    checkTrainAlone(app, run);
  });

  step('1. ESM program: MoD and MoE models train, routers swap by name, the loss falls', () => {
    process.stderr.write(`  ${run(process.execPath, ['train.mjs'], app).trim()}\n`);
  });

  step('2. strict TypeScript 5 (node16 and bundler resolution, no skipLibCheck)', () => {
    const tsc = join(app, 'node_modules/typescript/bin/tsc');
    for (const project of ['tsconfig.node16.json', 'tsconfig.bundler.json']) {
      const out = run(process.execPath, [tsc, '-p', project, '--pretty', 'false'], app, {
        allowFailure: true,
      });
      const errors = out.split('\n').filter((l) => /error TS\d+/.test(l));
      const ours = errors.filter((l) => !KNOWN_LIB_ERRORS.some((known) => known.test(l)));
      if (ours.length > 0)
        throw new Error(
          `${project}: ${ours.length} type errors outside the known third-party declarations:\n${ours.join('\n')}`,
        );
      process.stderr.write(
        `  ${project}: ${errors.length} errors, all in third-party ` +
          `declarations${errors.length ? `:\n    ${errors.join('\n    ')}` : ''}\n`,
      );
    }
  });

  step('3. a plugin from the example-02 template passes the installed law suite', () => {
    const plugin = join(work, 'plugin');
    const template = join(ROOT, 'examples/02-custom-router-plugin');
    mkdirSync(plugin);
    cpSync(join(template, 'src'), join(plugin, 'src'), { recursive: true });
    cpSync(join(template, 'tsconfig.build.json'), join(plugin, 'tsconfig.build.json'));
    const pkg = JSON.parse(readFileSync(join(template, 'package.json'), 'utf8'));
    const version = JSON.parse(
      readFileSync(join(ROOT, 'packages/core/package.json'), 'utf8'),
    ).version;
    const pin = (deps) =>
      Object.fromEntries(
        Object.entries(deps).map(([k, v]) => [k, v.startsWith('workspace:') ? version : v]),
      );
    writeFileSync(
      join(plugin, 'package.json'),
      JSON.stringify(
        {
          name: 'moderoute-plugin-projection-hash',
          version: '1.0.0',
          type: 'module',
          exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
          files: pkg.files,
          dependencies: pin(pkg.dependencies),
        },
        null,
        2,
      ),
    );
    // Built with the consumer's TypeScript 5 and installed packages (the plugin folder sits in the
    // consumer project, so its imports resolve to the installed tarballs).
    const inApp = join(app, 'plugin-src');
    cpSync(plugin, inApp, { recursive: true });
    run(
      process.execPath,
      [join(app, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      inApp,
    );
    const tgz = run('npm', ['pack', '--silent', '--pack-destination', work], inApp)
      .trim()
      .split('\n')
      .at(-1);
    run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--loglevel=error',
        join(work, tgz),
      ],
      app,
    );
    const out = run(
      join(app, 'node_modules/.bin/mocha'),
      ['--timeout', '120000', 'laws.spec.mjs'],
      app,
      { env: { FC_NUM_RUNS: '5' } },
    );
    process.stderr.write(
      `  ${out
        .trim()
        .split('\n')
        .filter((l) => /passing|failing|pending/.test(l))
        .join('; ')}\n`,
    );
  });

  step('4. the installed CLI: --version and train --steps 3 in an empty folder', () => {
    const empty = join(work, 'empty');
    mkdirSync(empty);
    const bin = join(app, 'node_modules/.bin/moderoute');
    const version = run(bin, ['--version'], empty).trim();
    const expected = JSON.parse(
      readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8'),
    ).version;
    if (version !== expected)
      throw new Error(
        `moderoute --version printed ${JSON.stringify(version)}, expected ${expected}`,
      );
    run(
      bin,
      [
        'train',
        '--steps',
        '3',
        '--width',
        '32',
        '--layers',
        '2',
        '--heads',
        '2',
        '--context',
        '32',
        '--batch-size',
        '2',
        '--out',
        'run',
        '--replicas',
        '1',
      ],
      empty,
      { env: { MODEROUTE_THREADS: '1' } },
    );
    if (!existsSync(join(empty, 'run', 'checkpoints')))
      throw new Error('train --steps 3 wrote no checkpoints/');
    process.stderr.write(
      `  moderoute --version: ${version}; train --steps 3 wrote run/checkpoints\n`,
    );
  });

  const sizes = step('5. esbuild bundles a browser page with no Node built-in', () => {
    const esbuild = join(app, 'node_modules/.bin/esbuild');
    const out = join(app, 'bundle.js');
    run(
      esbuild,
      [
        'page.js',
        '--bundle',
        '--minify',
        '--platform=browser',
        '--format=esm',
        `--outfile=${out}`,
        `--metafile=${out}.meta.json`,
        '--log-level=error',
      ],
      app,
    );
    const meta = JSON.parse(readFileSync(`${out}.meta.json`, 'utf8'));
    const builtins = Object.values(meta.outputs)
      .flatMap((o) => o.imports ?? [])
      .filter((i) => i.external || i.path.startsWith('node:'));
    if (builtins.length > 0)
      throw new Error(`the bundle still imports: ${builtins.map((i) => i.path).join(', ')}`);
    const text = readFileSync(out, 'utf8');
    const nodeRefs = text.match(/["'`]node:[a-z_/]+["'`]/g) ?? [];
    if (nodeRefs.length > 0)
      throw new Error(`the bundle names Node built-ins: ${[...new Set(nodeRefs)].join(', ')}`);
    const inputs = Object.values(meta.outputs)[0].inputs;
    const byPackage = {};
    for (const [path, { bytesInOutput }] of Object.entries(inputs)) {
      const m = path.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules)/);
      const name = m ? m[1] : path.startsWith('(disabled)') ? '(disabled)' : 'page';
      byPackage[name] = (byPackage[name] ?? 0) + bytesInOutput;
    }
    const moderoute = Object.entries(byPackage)
      .filter(([n]) => n.startsWith('@moderoute/'))
      .reduce((a, [, b]) => a + b, 0);
    return { total: Buffer.byteLength(text), moderoute, byPackage };
  });
  const kb = (n) => `${(n / 1024).toFixed(0)} KB`;
  process.stderr.write(
    `  minified page: ${kb(sizes.total)} in all, ${kb(sizes.moderoute)} of it moderoute's own code\n`,
  );
  process.stderr.write(
    `  by package: ${Object.entries(sizes.byPackage)
      .sort((a, b) => b[1] - a[1])
      .map(([n, b]) => `${n} ${kb(b)}`)
      .join(', ')}\n`,
  );

  step('6. the page in headless Chromium', () => {
    if (!existsSync(CHROMIUM)) {
      process.stderr.write(`  skipped: no ${CHROMIUM} (apt-get install chromium-headless-shell)\n`);
      return;
    }
    const site = join(app, 'site');
    mkdirSync(site);
    for (const entry of ['browser.js', 'browser-webgl.js']) {
      run(
        join(app, 'node_modules/.bin/esbuild'),
        [
          entry,
          '--bundle',
          '--platform=browser',
          '--format=esm',
          `--outfile=${join(site, entry)}`,
          '--log-level=error',
        ],
        app,
      );
      writeFileSync(
        join(site, entry.replace('.js', '.html')),
        `<!doctype html><meta charset="utf-8"><script type="module" src="${entry}"></script>`,
      );
    }
    // tfjs's wasm loader fetches its binaries beside the page unless told otherwise.
    const wasmDir = join(app, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
    for (const f of readdirSync(wasmDir).filter((f) => f.endsWith('.wasm')))
      cpSync(join(wasmDir, f), join(site, f));
    writeFileSync(
      join(app, 'browser-run.mjs'),
      `import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { chromium } from 'playwright-core';
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
const server = createServer((req, res) => {
  try {
    const path = join(${JSON.stringify(site)}, new URL(req.url, 'http://x').pathname);
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(path));
  } catch {
    res.writeHead(404).end();
  }
}).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const browser = await chromium.launch({
  executablePath: ${JSON.stringify(CHROMIUM)},
  args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist'],
});
try {
  const results = [];
  for (const name of ['browser', 'browser-webgl']) {
    const page = await browser.newPage();
    await page.goto('http://127.0.0.1:' + server.address().port + '/' + name + '.html');
    await page.waitForFunction(() => window.__result || window.__error, null, { timeout: 120000 });
    const { result, error } = await page.evaluate(() => ({ result: window.__result, error: window.__error }));
    if (error) throw new Error(name + ': ' + error);
    results.push(result);
  }
  console.log(JSON.stringify(results));
} finally {
  await browser.close();
  server.close();
}
`,
    );
    const [plain, webgl] = JSON.parse(
      run(process.execPath, ['browser-run.mjs'], app).trim().split('\n').at(-1),
    );
    for (const result of [plain, webgl]) {
      if (result.hasProcess)
        throw new Error('the page has a `process` global; the check proves nothing');
      if (!(result.loss > 0))
        throw new Error(`no finite loss from the browser: ${JSON.stringify(result)}`);
    }
    if (plain.backend !== 'wasm' || webgl.backend !== 'webgl')
      throw new Error(
        `initBackend() chose ${plain.backend} and, with webgl imported, ` +
          `${webgl.backend}; expected wasm and webgl (skipped: ` +
          `${JSON.stringify(webgl.skipped)})`,
      );
    process.stderr.write(
      `  Chromium, no \`process\`: initBackend() chose wasm (loss ` +
        `${plain.loss.toFixed(3)} after one step), and webgl once ` +
        `@tensorflow/tfjs-backend-webgl was imported (loss ${webgl.loss.toFixed(3)})\n`,
    );
  });

  process.stderr.write(
    `consumer: all checks passed in ${((Date.now() - started) / 1000).toFixed(0)} s ` +
      `(${timings.map(([n, s]) => `${n.split(' ')[0]} ${s.toFixed(0)} s`).join(', ')})\n`,
  );
} finally {
  if (keep) process.stderr.write(`consumer: kept ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
}
