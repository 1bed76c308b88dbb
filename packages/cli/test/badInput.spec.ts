// Every bad input a hostile tester tried: each is refused with exit code 2 and one
// line naming the option or the path, never a stack trace, and no command hangs on a pipe or a
// device. Table-driven, in-process (main()), on paths made in a temporary folder.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, type Io } from '../src/index.js';
import { TINY_MODEL, run } from './helpers.js';
import { reportError } from '../src/output.js';

const TINY = [...TINY_MODEL, '--replicas', '1', '--steps', '1'];

describe('moderoute on bad input', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'moderoute-bad-'));
    writeFileSync(join(dir, 'afile'), 'not a folder');
    writeFileSync(join(dir, 'array.json'), '[]');
    writeFileSync(join(dir, 'text.txt'), 'some text for training. '.repeat(20));
    writeFileSync(join(dir, 'big.txt'), '');
    truncateSync(join(dir, 'big.txt'), 3 * 2 ** 30);
    mkdirSync(join(dir, 'folder'));
    assert.equal(spawnSync('mkfifo', [join(dir, 'fifo')]).status, 0);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  // [arguments, what the one-line message must say]; {} stands for the temporary folder.
  const cases: [string[], RegExp][] = [
    [
      ['eval', '--checkpoint', '{}/afile'],
      /--checkpoint \(".*afile"\) is a regular file, not a folder: pass a run directory or a checkpoint directory/,
    ],
    [
      ['inspect', '--checkpoint', '{}/afile', '--text', 'x'],
      /--checkpoint \(".*afile"\) is a regular file, not a folder/,
    ],
    [
      ['generate', '--checkpoint', '{}/afile', '--prompt', 'x'],
      /--checkpoint \(".*afile"\) is a regular file, not a folder/,
    ],
    [
      ['train', '--out', '{}/afile'],
      /--out \(".*afile"\) is a regular file, not a folder: remove it or choose another path/,
    ],
    [['train', '--out', ''], /--out \(""\) must be a path, not an empty string/],
    [
      ['train', '--out', '{}/afile/run'],
      /--out \(".*afile\/run"\) cannot be used: a part of the path is a file, not a folder/,
    ],
    [['reproduce', '--out', '{}/afile'], /--out \(".*afile"\) is a regular file, not a folder/],
    [
      ['inspect', '--checkpoint', '{}', '--text', 'x', '--svg', '{}/missing/routing.svg'],
      /--svg \(".*routing\.svg"\) cannot be written: its folder ".*missing" does not exist \(create it first\)/,
    ],
    [
      ['inspect', '--checkpoint', '{}', '--text', 'x', '--svg', '{}/folder'],
      /--svg \(".*folder"\) is a folder: name a file in it/,
    ],
    [
      ['generate', '--checkpoint', '{}', '--prompt', 'x', '--temperature', '-1'],
      /--temperature \("-1"\) must be a finite number >= 0/,
    ],
    [
      ['generate', '--checkpoint', '{}', '--prompt', 'x', '--top-p', 'NaN'],
      /--top-p \("NaN"\) must be a finite number > 0 and <= 1/,
    ],
    [
      ['generate', '--checkpoint', '{}', '--prompt', 'x', '--top-p', '1.5'],
      /--top-p \("1\.5"\) must be a finite number > 0 and <= 1/,
    ],
    [
      ['train', '--steps', '1e99'],
      /--steps \("1e99"\) is too large: at most 9007199254740991 \(2\^53 - 1/,
    ],
    [
      ['train', '--config', '{}/array.json'],
      /ConfigError: --config \(".*array\.json"\) must be a JSON object .*, not an array/,
    ],
    [
      ['train', '--config', '{}/fifo'],
      /--config \(".*fifo"\) is a named pipe \(FIFO\): name a regular file/,
    ],
    [['train', '--config', '{}/none.json'], /--config \(".*none\.json"\) does not exist/],
    [
      ['reproduce', '--spec', '{}/array.json', '--out', '{}/repro'],
      /ConfigError: --spec \(".*array\.json"\) must be a JSON object/,
    ],
    [['train', '--batch', '3'], /unknown option '--batch'\n\(Did you mean --batch-size\?\)/],
    [
      ['train', ...TINY, '--out', '{}/run', '--data', '/dev/zero'],
      /DataError: data \(\/dev\/zero\) is a character device: data must be a regular text file/,
    ],
    [
      ['train', ...TINY, '--out', '{}/run', '--data', '{}/fifo'],
      /DataError: data \(.*fifo\) is a named pipe \(FIFO\)/,
    ],
    [
      ['train', ...TINY, '--out', '{}/run', '--data', '{}/big.txt'],
      /DataError: data \(.*big\.txt\) holds 3\.00 GiB .* over the limit of 1\.00 GiB/,
    ],
    [
      ['train', ...TINY, '--out', '{}/run', '--data', '{}/text.txt', '--max-data-bytes', '100'],
      /DataError: data \(.*text\.txt\) holds 480 bytes of text, over the limit of 100 bytes/,
    ],
    [
      ['eval', '--checkpoint', '{}', '--data', ''],
      /--data \(""\) must be a path, not an empty string/,
    ],
    [['train', '--max-data-bytes', '0'], /--max-data-bytes \("0"\) must be an integer >= 1/],
    [
      ['train', '--max-data-bytes', String(2 ** 32)],
      /--max-data-bytes \("4294967296"\) is too large: at most 4294967295/,
    ],
    [
      [
        'train',
        '--width',
        '16384',
        '--layers',
        '1',
        '--heads',
        '1',
        '--context',
        '8',
        '--backend',
        'wasm',
        '--replicas',
        '1',
        '--steps',
        '1',
        '--out',
        '{}/wide',
      ],
      new RegExp(
        'ConfigError: model size \\(\\d+\\) must be at most 268435456 ' +
          'parameters .* parameter blocks\\.0\\.attn\\.wQkv \\[16384, 49152\\] ' +
          'brings it to',
      ),
    ],
  ];

  for (const [args, message] of cases) {
    it(
      `should refuse \`${args.map((a) => (a === '' ? '""' : a)).join(' ')}\` with exit ` +
        `2 and a one-line message`,
      async () => {
        const r = await run(...args.map((a) => a.replaceAll('{}', dir)));
        assert.equal(r.code, EXIT.usage, r.err);
        assert.match(r.err, message);
        assert.doesNotMatch(r.err, /unexpected error|\n\s+at /);
      },
    );
  }

  describe('reportError', () => {
    it(
      'should turn an operating-system error on a path into the path, the operation ' +
        'and what to do, with exit 2',
      () => {
        const lines: string[] = [];
        const io: Io = { out: () => undefined, err: (s) => lines.push(s), write: () => undefined };
        const full = Object.assign(
          new Error("ENOSPC: no space left on device, write '/runs/a/metrics.jsonl'"),
          { code: 'ENOSPC', syscall: 'write', path: '/runs/a/metrics.jsonl', errno: -28 },
        );
        assert.equal(reportError(io, full), EXIT.usage);
        assert.equal(
          lines[0],
          'moderoute: PathError: path ("/runs/a/metrics.jsonl") cannot write: no space ' +
            'left on the device (ENOSPC); free some space or choose another device',
        );
        const denied = Object.assign(new Error("EACCES: permission denied, mkdir '/ro/run'"), {
          code: 'EACCES',
          syscall: 'mkdir',
          path: '/ro/run',
          errno: -13,
        });
        assert.equal(reportError(io, denied), EXIT.usage);
        assert.match(
          lines[1]!,
          new RegExp(
            '^moderoute: PathError: path \\("\\/ro\\/run"\\) cannot create the ' +
              'folder: permission denied \\(EACCES\\); check its permissions',
          ),
        );
        // A bug keeps its stack and exit 1.
        assert.equal(reportError(io, new TypeError('x is undefined')), EXIT.failure);
        assert.match(lines[2]!, /^moderoute: unexpected error: TypeError: x is undefined\n\s+at /);
      },
    );
  });
});
