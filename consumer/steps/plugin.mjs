// Step 3 of the consumer test: a plugin package made from examples/02-custom-router-plugin
// (built to dist, packed, installed) passes the router law suite of the installed
// @moderoute/testing.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run } from './shared.mjs';

/** Builds, packs and installs the plugin into `app` (scratch space under `work`), then runs the laws. */
export function checkPlugin(app, work) {
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
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(work, tgz)],
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
}
