// Step 4 of the consumer test: the installed `moderoute` command runs --version and
// `train --steps 3` in an empty folder.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, run } from './shared.mjs';

/** Runs the CLI installed in `app` in a new empty folder under `work`. */
export function checkCli(app, work) {
  const empty = join(work, 'empty');
  mkdirSync(empty);
  const bin = join(app, 'node_modules/.bin/moderoute');
  const version = run(bin, ['--version'], empty).trim();
  const expected = JSON.parse(
    readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8'),
  ).version;
  if (version !== expected)
    throw new Error(`moderoute --version printed ${JSON.stringify(version)}, expected ${expected}`);
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
}
