#!/usr/bin/env node
// Bad-input probes ("stack traces where a clear error belongs", "hangs and unbounded
// input", "unclear messages"): runs the built command (packages/cli/dist/bin.js; build with
// `npx tsc -b` first) on each bad input and sorts the outcome: a clear error (exit 2, one line
// naming the option or path, nothing on stdout), a stack trace, a hang (killed after 60 s), or
// anything else. Prints one row per probe and the counts; exits 1 unless every probe got a
// clear error. The fast in-process form of these cases is packages/cli/test/badInput.spec.ts.
//
//   node test/faults/bad-input-probes.mjs
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'packages', 'cli', 'dist', 'bin.js');
const dir = mkdtempSync(join(tmpdir(), 'moderoute-probes-'));
const TINY = [
  '--width',
  '16',
  '--layers',
  '2',
  '--heads',
  '2',
  '--context',
  '16',
  '--batch-size',
  '2',
  '--backend',
  'wasm',
  '--replicas',
  '1',
];

function moderoute(args, timeout = 60_000) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout,
    killSignal: 'SIGKILL',
    maxBuffer: 1 << 24,
  });
  return { code: r.status, signal: r.signal, out: r.stdout ?? '', err: r.stderr ?? '' };
}

try {
  writeFileSync(join(dir, 'afile'), 'not a folder');
  writeFileSync(join(dir, 'array.json'), '[]');
  writeFileSync(join(dir, 'string.json'), '"steps"');
  writeFileSync(join(dir, 'text.txt'), 'some text for training. '.repeat(20));
  writeFileSync(join(dir, 'big.txt'), '');
  truncateSync(join(dir, 'big.txt'), 3 * 2 ** 30);
  mkdirSync(join(dir, 'folder'));
  mkdirSync(join(dir, 'texts'));
  writeFileSync(join(dir, 'texts', 'a.txt'), 'alpha '.repeat(100));
  for (const fifo of ['fifo', join('texts', 'b.txt')])
    if (spawnSync('mkfifo', [join(dir, fifo)]).status !== 0) throw new Error('mkfifo failed');
  // A MoD model (threshold rule, no predictor) for the probes that need a checkpoint.
  const trained = moderoute(
    ['train', '--variant', 'mod-every-other', ...TINY, '--steps', '2', '--out', 'mod'],
    300_000,
  );
  if (trained.code !== 0) throw new Error(`training the probe model failed: ${trained.err}`);

  /** [name, arguments, what the message must say]. */
  const probes = [
    [
      'eval --checkpoint <file> (ENOTDIR)',
      ['eval', '--checkpoint', 'afile'],
      /--checkpoint \("afile"\) is a regular file, not a folder/,
    ],
    [
      'inspect --checkpoint <file>',
      ['inspect', '--checkpoint', 'afile', '--text', 'x'],
      /--checkpoint \("afile"\) is a regular file/,
    ],
    [
      'generate --checkpoint <file>',
      ['generate', '--checkpoint', 'afile', '--prompt', 'x'],
      /--checkpoint \("afile"\) is a regular file/,
    ],
    [
      'train --out <file> (EEXIST)',
      ['train', '--out', 'afile'],
      /--out \("afile"\) is a regular file, not a folder/,
    ],
    ['train --out ""', ['train', '--out', ''], /--out \(""\) must be a path/],
    ['train --out <file>/run', ['train', '--out', 'afile/run'], /a part of the path is a file/],
    [
      'reproduce --out <file>',
      ['reproduce', '--out', 'afile'],
      /--out \("afile"\) is a regular file/,
    ],
    [
      'inspect --svg into a missing folder',
      ['inspect', '--checkpoint', 'mod', '--text', 'x', '--svg', 'missing/r.svg'],
      /--svg \("missing\/r\.svg"\) cannot be written: its folder .* does not exist/,
    ],
    [
      'inspect --svg onto a folder',
      ['inspect', '--checkpoint', 'mod', '--text', 'x', '--svg', 'folder'],
      /--svg \("folder"\) is a folder/,
    ],
    [
      'generate --temperature -1',
      ['generate', '--checkpoint', 'mod', '--prompt', 'x', '--temperature', '-1'],
      /--temperature \("-1"\) must be a finite number >= 0/,
    ],
    [
      'generate --top-p NaN',
      ['generate', '--checkpoint', 'mod', '--prompt', 'x', '--top-p', 'NaN'],
      /--top-p \("NaN"\) must be a finite number > 0 and <= 1/,
    ],
    [
      'generate --top-p 1.5',
      ['generate', '--checkpoint', 'mod', '--prompt', 'x', '--top-p', '1.5'],
      /--top-p \("1\.5"\)/,
    ],
    [
      'train --width 100000',
      [
        'train',
        '--width',
        '100000',
        '--backend',
        'wasm',
        '--replicas',
        '1',
        '--steps',
        '1',
        '--out',
        'wide',
      ],
      /model size \(\d+\) must be at most 268435456 parameters/,
    ],
    [
      'train --data /dev/zero',
      ['train', ...TINY, '--steps', '1', '--out', 'r', '--data', '/dev/zero'],
      /data \(\/dev\/zero\) is a character device/,
    ],
    [
      'train --data <fifo without writer>',
      ['train', ...TINY, '--steps', '1', '--out', 'r', '--data', 'fifo'],
      /is a named pipe \(FIFO\)/,
    ],
    [
      'train --data <folder holding a fifo .txt>',
      ['train', ...TINY, '--steps', '1', '--out', 'r', '--data', 'texts'],
      /texts\/b\.txt\) is a named pipe \(FIFO\)/,
    ],
    [
      'train --data <3 GiB file> (ERR_FS_FILE_TOO_LARGE)',
      ['train', ...TINY, '--steps', '1', '--out', 'r', '--data', 'big.txt'],
      /holds 3\.00 GiB .* over the limit of 1\.00 GiB/,
    ],
    [
      'train --data <480 B> --max-data-bytes 100',
      [
        'train',
        ...TINY,
        '--steps',
        '1',
        '--out',
        'r',
        '--data',
        'text.txt',
        '--max-data-bytes',
        '100',
      ],
      /over the limit of 100 bytes/,
    ],
    [
      'eval --data /dev/zero',
      ['eval', '--checkpoint', 'mod', '--data', '/dev/zero', '--backend', 'wasm'],
      /data \(\/dev\/zero\) is a character device/,
    ],
    [
      'eval --data ""',
      ['eval', '--checkpoint', 'mod', '--data', ''],
      /--data \(""\) must be a path/,
    ],
    [
      'train --max-data-bytes 0',
      ['train', '--max-data-bytes', '0'],
      /--max-data-bytes \("0"\) must be an integer >= 1/,
    ],
    [
      'train --steps 1e99',
      ['train', '--steps', '1e99'],
      /--steps \("1e99"\) is too large: at most 9007199254740991/,
    ],
    [
      'train --config <[]>',
      ['train', '--config', 'array.json', '--out', 'c'],
      /--config \("array\.json"\) must be a JSON object .* not an array/,
    ],
    [
      'train --config <"steps">',
      ['train', '--config', 'string.json', '--out', 'c'],
      /--config \("string\.json"\) must be a JSON object .* not a string/,
    ],
    [
      'train --config <fifo>',
      ['train', '--config', 'fifo', '--out', 'c'],
      /--config \("fifo"\) is a named pipe/,
    ],
    [
      'train --config <missing>',
      ['train', '--config', 'none.json', '--out', 'c'],
      /--config \("none\.json"\) does not exist/,
    ],
    [
      'reproduce --spec <[]>',
      ['reproduce', '--spec', 'array.json', '--out', 'rp'],
      /--spec \("array\.json"\) must be a JSON object/,
    ],
    [
      'train --batch 3 (mistyped flag)',
      ['train', '--batch', '3'],
      /unknown option '--batch'\n\(Did you mean --batch-size\?\)/,
    ],
    [
      'inspect --mode predictor (no predictor)',
      [
        'inspect',
        '--checkpoint',
        'mod',
        '--text',
        'We',
        '--mode',
        'predictor',
        '--backend',
        'wasm',
      ],
      /has no predictor .*causalMode: "predictor"/,
    ],
    [
      'generate --mode predictor (no prompt echo)',
      [
        'generate',
        '--checkpoint',
        'mod',
        '--prompt',
        'We the',
        '--mode',
        'predictor',
        '--backend',
        'wasm',
      ],
      new RegExp(
        'has no predictor: use mode "threshold" with it, or train a model whose MoD router ' +
          'config sets causalMode: "predictor"',
      ),
    ],
  ];

  const counts = { probes: 0, clear: 0, stack: 0, hang: 0, other: 0 };
  for (const [name, args, message] of probes) {
    const started = performance.now();
    const r = moderoute(args);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    counts.probes++;
    let outcome;
    if (r.signal !== null) outcome = 'hang';
    else if (/unexpected error|\n\s+at /.test(r.err)) outcome = 'stack';
    else if (r.code === 2 && message.test(r.err) && r.out === '') outcome = 'clear';
    else outcome = 'other';
    counts[outcome]++;
    const first =
      r.err.split('\n').find((l) => l.startsWith('moderoute:') || l.startsWith('error:')) ??
      r.err.split('\n')[0];
    console.log(
      `${outcome.padEnd(5)} exit ${String(r.code ?? r.signal).padEnd(7)} ` +
        `${seconds.padStart(5)} s  ${name}\n      ` +
        first +
        (outcome === 'other'
          ? `\n      stdout: ${JSON.stringify(r.out.slice(0, 200))}` +
            `\n      stderr: ${r.err.slice(0, 600)}`
          : ''),
    );
  }
  console.log(
    `\nprobes ${counts.probes}, clear errors ${counts.clear}, stack traces ` +
      `${counts.stack}, hangs ${counts.hang}, other ${counts.other}`,
  );
  process.exitCode = counts.clear === counts.probes ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
