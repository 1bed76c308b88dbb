// Many SIGKILLs against `moderoute train`, then a bit-for-bit comparison with an uninterrupted
// run (see killResume.ts). From the repository root:
//
//   node --import ./test/register-tsx.mjs --conditions=@moderoute/source test/faults/kill-resume.ts --kills 50
//
// Options: --kills N (default 50), --steps N (default 60), --seed N (default 1), --dir PATH
// (default a temporary folder, removed afterwards). Exits 1 when the runs differ or something is
// left behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { killResume } from './killResume.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '50' },
    steps: { type: 'string', default: '60' },
    seed: { type: 'string', default: '1' },
    dir: { type: 'string' },
  },
});
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'moderoute-faults-'));
const started = Date.now();
try {
  const report = await killResume({
    dir,
    kills: Number(values.kills),
    steps: Number(values.steps),
    seed: Number(values.seed),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(
    `${JSON.stringify({ ...report, seconds: Math.round((Date.now() - started) / 1000) }, null, 2)}\n`,
  );
  process.exitCode = report.identical && report.leftovers.length === 0 ? 0 : 1;
} finally {
  if (values.dir === undefined) rmSync(dir, { recursive: true, force: true });
}
