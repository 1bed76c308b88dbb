// Reading a user's text (data/textFiles.ts through loadTextCorpus): folders, limits, and every
// kind of file that is refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ConfigError } from '@moderoute/core';
import { CorpusCache, DataError, decodeBytes, loadTextCorpus } from '../src/index.js';
import { useTempDir } from './helpers.js';

const isDataError = (problem: string, pattern: RegExp) => (e: unknown) =>
  e instanceof DataError && e.problem === problem && pattern.test(e.message);

describe('corpus', () => {
  describe('loadTextCorpus', () => {
    const tmp = useTempDir();

    it('should read every .txt and .md file of a folder, sorted by path', () => {
      const dir = join(tmp(), 'folder');
      mkdirSync(join(dir, 'sub'), { recursive: true });
      writeFileSync(join(dir, 'b.txt'), 'bravo '.repeat(50));
      writeFileSync(join(dir, 'a.md'), 'alpha '.repeat(50));
      writeFileSync(join(dir, 'sub', 'c.txt'), 'charlie '.repeat(50));
      writeFileSync(join(dir, 'ignored.json'), '{"x": 1}');
      mkdirSync(join(dir, '.git'));
      writeFileSync(join(dir, '.git', 'x.txt'), 'hidden');
      const corpus = loadTextCorpus(dir, { validationFraction: 0.3 });
      assert.deepEqual([...corpus.trainDocuments, ...corpus.validationDocuments].sort(), [
        'a.md',
        'b.txt',
        'sub/c.txt',
      ]);
      assert.equal(corpus.validationDocuments.length, 1);
      assert.ok(!decodeBytes(corpus.train).includes('{'));
    });

    it('should split one file at the tail and check seqLen', () => {
      const file = join(tmp(), 'one.txt');
      writeFileSync(file, 'x'.repeat(1000));
      const corpus = loadTextCorpus(file, { validationFraction: 0.1, seqLen: 64 });
      assert.equal(corpus.train.length, 900);
      assert.equal(corpus.validation.length, 100);
      assert.throws(
        () => loadTextCorpus(file, { validationFraction: 0.1, seqLen: 128 }),
        isDataError('too-short', /validation split has 100 bytes.*seqLen \+ 1 = 129/),
      );
    });

    it('should say a missing path does not exist', () => {
      assert.throws(
        () => loadTextCorpus(join(tmp(), 'nope')),
        isDataError('missing', /nope\) does not exist/),
      );
    });

    it('should refuse an empty file and a folder without text files', () => {
      const empty = join(tmp(), 'empty.txt');
      writeFileSync(empty, '  \n');
      assert.throws(() => loadTextCorpus(empty), isDataError('empty', /is empty/));
      const dir = join(tmp(), 'no-text');
      mkdirSync(dir);
      writeFileSync(join(dir, 'data.bin'), 'x');
      assert.throws(
        () => loadTextCorpus(dir),
        isDataError('empty', /holds no \.txt or \.md files/),
      );
    });

    it('should refuse binary input: NUL bytes or mostly invalid UTF-8', () => {
      const nul = join(tmp(), 'nul.txt');
      writeFileSync(nul, Buffer.from([0x61, 0x62, 0x00, 0x63]));
      assert.throws(() => loadTextCorpus(nul), isDataError('binary', /NUL byte at offset 2/));
      const latin1 = join(tmp(), 'random.txt');
      writeFileSync(latin1, Buffer.from(Array.from({ length: 400 }, (_, i) => 0x80 + (i % 64))));
      assert.throws(
        () => loadTextCorpus(latin1),
        isDataError('binary', /invalid UTF-8 sequences in 400 bytes/),
      );
    });

    describe('when the path is not a regular file', () => {
      it('should refuse a character device by name without reading it (/dev/zero streams without end)', () => {
        assert.throws(
          () => loadTextCorpus('/dev/zero'),
          isDataError(
            'not-regular',
            /^data \(\/dev\/zero\) is a character device: data must be a regular text file/,
          ),
        );
      });

      it('should refuse a named pipe with no writer at once instead of waiting for one', () => {
        const fifo = join(tmp(), 'pipe.txt');
        assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
        assert.throws(
          () => loadTextCorpus(fifo),
          isDataError('not-regular', /pipe\.txt\) is a named pipe \(FIFO\)/),
        );
        // In a folder too, by the name of the pipe.
        const dir = join(tmp(), 'with-pipe');
        mkdirSync(dir);
        writeFileSync(join(dir, 'a.txt'), 'alpha '.repeat(50));
        assert.equal(spawnSync('mkfifo', [join(dir, 'b.txt')]).status, 0);
        assert.throws(
          () => loadTextCorpus(dir),
          isDataError('not-regular', /with-pipe\/b\.txt\) is a named pipe \(FIFO\)/),
        );
      });

      it('should refuse a socket by name', async () => {
        const path = join(tmp(), 'sock.txt');
        const server = createServer();
        await new Promise<void>((done) => server.listen(path, done));
        try {
          assert.throws(
            () => loadTextCorpus(path),
            isDataError('not-regular', /sock\.txt\) is a socket/),
          );
        } finally {
          await new Promise<void>((done) => server.close(() => done()));
        }
      });
    });

    describe('when the data is larger than the limit', () => {
      it(
        'should refuse a file over the default 1 GiB before reading it (a sparse 3 GiB ' +
          'file: no ERR_FS_FILE_TOO_LARGE)',
        () => {
          const big = join(tmp(), 'big.txt');
          writeFileSync(big, '');
          truncateSync(big, 3 * 2 ** 30);
          assert.throws(
            () => loadTextCorpus(big),
            isDataError(
              'too-large',
              /holds 3\.00 GiB \(3221225472 bytes\) of text, over the limit of 1\.00 GiB .*--max-data-bytes/,
            ),
          );
        },
      );

      it('should count every file of a folder against maxBytes, and read data within it', () => {
        const dir = join(tmp(), 'limited');
        mkdirSync(dir);
        writeFileSync(join(dir, 'a.txt'), 'a'.repeat(600));
        writeFileSync(join(dir, 'b.txt'), 'b'.repeat(600));
        assert.throws(
          () => loadTextCorpus(dir, { maxBytes: 1000 }),
          isDataError(
            'too-large',
            /holds 1\.17 KiB \(1200 bytes\) of text in 2 files, over the limit of 1000 bytes/,
          ),
        );
        const corpus = new CorpusCache({ maxBytes: 1200 }).load({ kind: 'path', path: dir });
        assert.equal(corpus.train.length + corpus.validation.length, 1200);
        assert.throws(
          () => new CorpusCache({ maxBytes: 1199 }).load({ kind: 'path', path: dir }),
          isDataError('too-large', /over the limit of 1.17 KiB \(1199 bytes\)/),
        );
      });

      it('should name maxBytes when it is out of range', () => {
        for (const maxBytes of [0, 1.5, 2 ** 32]) {
          assert.throws(
            () => loadTextCorpus(join(tmp(), 'any'), { maxBytes }),
            (e: unknown) =>
              e instanceof ConfigError &&
              /^maxBytes \(.*\) must be an integer from 1 to 4294967295/.test(e.message),
          );
        }
      });
    });

    it('should accept a few invalid bytes in a long text', () => {
      const file = join(tmp(), 'mostly.txt');
      writeFileSync(
        file,
        Buffer.concat([Buffer.from('hello world '.repeat(100)), Buffer.from([0xff])]),
      );
      assert.equal(
        loadTextCorpus(file).train.length + loadTextCorpus(file).validation.length,
        1201,
      );
    });
  });
});
