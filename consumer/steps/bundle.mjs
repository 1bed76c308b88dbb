// Step 5 of the consumer test: esbuild bundles a browser page over core, routing, blocks, model
// and train with no Node built-in left; the bundle's sizes are reported.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './shared.mjs';

/**
 * Bundles the fixtures' page.js in `app`; throws if the bundle imports or names a Node built-in.
 * Returns the minified size in all, moderoute's share, and the bytes by package.
 */
export function bundlePage(app) {
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
}

/** Prints the sizes `bundlePage` returned. */
export function printSizes(sizes) {
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
}
