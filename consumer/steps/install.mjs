// The consumer test's setup: every package built and packed, and the tarballs installed with plain
// npm (beside the peers and the checks' tools) into a project outside the workspace.
import { cpSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkTrainAlone } from '../trainAlone.mjs';
import { CHROMIUM, FIXTURES, PNPM, ROOT, run } from './shared.mjs';

// Versions the consumer installs beside the tarballs (the peers and the tools of the checks).
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

/** Builds the workspace and packs every package into `tarballs`. */
export function buildAndPack(tarballs) {
  run(process.execPath, [join(ROOT, 'packages/core/scripts/bundle-tfjs-gradients.mjs')], ROOT);
  run(process.execPath, [join(ROOT, 'packages/core/scripts/build-wasm-kernels.mjs')], ROOT);
  run('npx', ['tsc', '-b'], ROOT);
  run(
    'npx',
    [...PNPM, '-r', '--filter', './packages/**', 'pack', '--pack-destination', tarballs],
    ROOT,
  );
}

/**
 * Installs the `packed` tarballs into the new project `app`, copies the fixtures beside them, and
 * checks the tree: one tfjs-core, no union @tensorflow/tfjs, no vega under @moderoute/train.
 */
export function installTarballs(app, packed) {
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
}
