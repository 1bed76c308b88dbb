// Stand-ins, in the browser entry, for the Node-only exports of @moderoute/train: calling one (or
// constructing one) throws a ConfigError that names it and says what to use in a browser, instead
// of a bundler error or a `ReferenceError: process is not defined`.
import { nodeOnly } from '@moderoute/core';

/** A Node-only function in the browser entry: any call throws a ConfigError. */
export type NodeOnlyFunction = (...args: never[]) => never;
/** A Node-only class in the browser entry: construction throws a ConfigError. */
export type NodeOnlyClass = new (...args: never[]) => never;

function fn(name: string, instead: string): NodeOnlyFunction {
  return () => nodeOnly(`${name}()`, instead);
}

function cls(name: string, instead: string): NodeOnlyClass {
  class NodeOnly {
    constructor() {
      nodeOnly(`new ${name}()`, instead);
    }
  }
  return NodeOnly as NodeOnlyClass;
}

const TOKENS = 'encode your text with encodeBytes and batch it with TrainWindows';
const STEP = 'train with shardGradients and AdamW.apply';
const WEIGHTS =
  "encode a checkpoint's files with encodeCheckpointFiles, read them with decodeCheckpoint and " +
  'modelFromCheckpoint';

/** Node only (reads files): see the Node entry. */
export const loadCorpus = fn('loadCorpus', TOKENS);
/** Node only (reads files): see the Node entry. */
export const loadTextCorpus = fn('loadTextCorpus', TOKENS);
/** Node only (reads the embedded corpus package's files): see the Node entry. */
export const loadSotuCorpus = fn('loadSotuCorpus', TOKENS);
/** Node only (reads files): see the Node entry. */
export const CorpusCache = cls('CorpusCache', TOKENS);
/** Node only (writes run directories): see the Node entry. */
export const Trainer = cls('Trainer', STEP);
/** Node only (worker threads): see the Node entry. */
export const DataParallel = cls('DataParallel', STEP);
/** Node only (writes files): see the Node entry. */
export const CheckpointStore = cls('CheckpointStore', WEIGHTS);
/** Node only (reads files): see the Node entry. */
export const loadCheckpoint = fn('loadCheckpoint', WEIGHTS);
/** Node only (reads files): see the Node entry. */
export const restoreModel = fn('restoreModel', WEIGHTS);
/** Node only (writes files): see the Node entry. */
export const JsonlWriter = cls('JsonlWriter', 'keep the step events in memory');
/** Node only (reads files): see the Node entry. */
export const readJsonl = fn('readJsonl', 'keep the step events in memory');
/** Node only (draws on a terminal): see the Node entry. */
export const ProgressReporter = cls(
  'ProgressReporter',
  'report progress from the Trainer-free loop yourself',
);
