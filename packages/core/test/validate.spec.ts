import assert from 'node:assert/strict';
import {
  ConfigError,
  PathError,
  isFileSystemError,
  requireBoolean,
  requireInt,
} from '@moderoute/core';

describe('requireBoolean', () => {
  it('should return a boolean and refuse a truthy or falsy non-boolean, naming the parameter', () => {
    assert.equal(requireBoolean('dropless', false), false);
    for (const value of [1, 'true', null, undefined])
      assert.throws(
        () => requireBoolean('dropless', value),
        (e: unknown) => e instanceof ConfigError && e.parameter === 'dropless',
      );
  });
});

describe('requireInt', () => {
  describe('when the value is an integer past the safe range', () => {
    it('should name the safe-integer range, which 1e99 (an integer to JavaScript) is outside', () => {
      assert.throws(
        () => requireInt('steps', 1e99, { min: 1 }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.message ===
            'steps (1e+99) must be an integer in [1, 9007199254740991] (the safe-integer range of a double, 2^53 - 1)',
      );
      assert.throws(
        () => requireInt('offset', -1e99),
        /offset \(-1e\+99\) must be an integer in \[-9007199254740991, 9007199254740991\] \(the safe-integer range/,
      );
    });

    it('should keep the plain message for a value that is no integer, and an explicit maximum', () => {
      assert.throws(
        () => requireInt('steps', 1.5, { min: 1 }),
        (e: unknown) =>
          e instanceof ConfigError && e.message === 'steps (1.5) must be an integer >= 1',
      );
      assert.throws(
        () => requireInt('k', 1e99, { min: 1, max: 8 }),
        (e: unknown) =>
          e instanceof ConfigError && e.message === 'k (1e+99) must be an integer in [1, 8]',
      );
    });
  });
});

describe('PathError', () => {
  describe('.fromSystemError', () => {
    it('should name the option, the path, the operation, the reason and what to do', () => {
      const error = Object.assign(new Error("ENOTDIR: not a directory, scandir '/tmp/a'"), {
        code: 'ENOTDIR',
        syscall: 'scandir',
        path: '/tmp/a',
      });
      assert.ok(isFileSystemError(error));
      assert.equal(
        PathError.fromSystemError('--checkpoint', '/tmp/a', error).message,
        '--checkpoint ("/tmp/a") cannot list the folder: it (or a part of the path) is a ' +
          'file, not a folder (ENOTDIR); check the path',
      );
      // A failure on a file inside the path names that file too.
      const inner = Object.assign(new Error('x'), {
        code: 'ENOSPC',
        syscall: 'write',
        path: '/runs/a/metrics.jsonl',
      });
      assert.match(
        PathError.fromSystemError('--out', '/runs/a', inner).message,
        new RegExp(
          '^--out \\("\\/runs\\/a"\\) cannot write \\(at ' +
            '"\\/runs\\/a\\/metrics\\.jsonl"\\): no space left on the device ' +
            '\\(ENOSPC\\)',
        ),
      );
    });
  });

  it('should not take an error without a path for a file-system error', () => {
    assert.ok(!isFileSystemError(Object.assign(new Error('x'), { code: 'ERR_FS_FILE_TOO_LARGE' })));
    assert.ok(!isFileSystemError(new Error('x')));
  });
});
