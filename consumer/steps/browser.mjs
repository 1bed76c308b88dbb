// Step 6 of the consumer test: where /usr/bin/chromium-headless-shell is installed (Debian's
// chromium-headless-shell), the page runs in it: initBackend() without `process` picks wasm, and
// webgl once @tensorflow/tfjs-backend-webgl is imported; one training step each (skipped, saying
// so, where there is no such browser).
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM, run } from './shared.mjs';

/** Bundles the fixtures' browser pages in `app`, serves them and runs them in headless Chromium. */
export function checkBrowser(app) {
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
}
