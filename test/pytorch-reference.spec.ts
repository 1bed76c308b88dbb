// docs/model-format.md is precise enough to rebuild the forward pass elsewhere: the PyTorch
// reference in docs/reference (moderoute_forward.py and its modules), written from it, must
// reproduce moderoute's logits from a trained checkpoint of every CLI variant and of
// option-rich configs: under top-k and every causal rule the model accepts, on a batch with
// padding, and decoding token by token. One python process serves every checkpoint. Runs where
// Debian's python3 has torch and numpy; says so and skips elsewhere.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, initBackend, tf, type Tensor2D } from '@moderoute/core';
import {
  Decoder,
  MODEL_IDS,
  createContainer,
  type LanguageModel,
  type LanguageModelConfig,
} from '@moderoute/model';
import { expectClose } from '@moderoute/testing';
import { CorpusCache, Trainer, resolveCheckpointDir, restoreModel } from '@moderoute/train';
import {
  CONTEXT,
  PYTHON,
  REFERENCE_DIR,
  REFERENCE_MODELS,
  skipWithoutTorch,
} from './pytorchReferenceModels.js';

const TOLERANCE = { rtol: 1e-5, atol: 1e-5 };
const RULES = ['top-k', 'threshold', 'predictor', 'causal'] as const;
type Rule = (typeof RULES)[number];

/** Three sequences, the last two right-padded (1: real token, 0: padding). */
const IDS = [
  [3, 17, 9, 22, 9, 1, 38, 5, 0, 12, 101, 250, 7, 7, 64, 33],
  [40, 2, 2, 19, 88, 120, 5, 9, 31, 77, 0, 0, 0, 0, 0, 0],
  [200, 13, 54, 3, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
];
const LENGTHS = [16, 10, 5];
const MASK = LENGTHS.map((n) => Array.from({ length: CONTEXT }, (_, t) => (t < n ? 1 : 0)));
const PROMPT = IDS[0]!.slice(0, 12);

type Request =
  | { readonly ids: number[][]; readonly mask: number[][]; readonly mode: Rule }
  | { readonly decode: number[]; readonly mode: Rule };
type Logits = number[][][] | number[][];

/** One checkpoint: the requests moderoute accepted, with its logits and their labels. */
interface Job {
  readonly checkpoint: string;
  readonly requests: Request[];
  readonly expected: Logits[];
  readonly covered: string[];
}

/** moderoute's result for a request, or undefined when moderoute refuses the rule (ConfigError). */
function ours(model: LanguageModel, request: Request): Logits | undefined {
  try {
    if ('decode' in request) {
      const decoder = new Decoder(model, { mode: request.mode as never });
      try {
        return request.decode.map((id) => {
          const logits = decoder.feed([id]);
          const row = (logits.arraySync() as number[][])[0]!;
          logits.dispose();
          return row;
        });
      } finally {
        decoder.dispose();
      }
    }
    return tf.tidy(() => {
      const ids = tf.tensor2d(request.ids, undefined, 'int32') as Tensor2D;
      const mask = tf.tensor2d(request.mask, undefined, 'float32');
      const { logits } = model.forward(ids, { mask, mode: request.mode });
      return logits.arraySync() as number[][][];
    });
  } catch (error) {
    if (error instanceof ConfigError) return undefined;
    throw error;
  }
}

/** Trains a tiny checkpoint of `config` and records moderoute's logits under every rule. */
async function job(config: LanguageModelConfig, out: string, corpora: CorpusCache): Promise<Job> {
  const result = await new Trainer({
    model: config,
    batchSize: 2,
    seqLen: CONTEXT,
    steps: 3,
    learningRate: 3e-2,
    warmupSteps: 1,
    evalWindows: 1,
  }).run({ outDir: out, corpusCache: corpora });
  assert.equal(result.stopReason, 'completed');
  const { model } = restoreModel(out, createContainer().get(MODEL_IDS.ModelFactory));
  const made: Job = {
    checkpoint: resolveCheckpointDir(out),
    requests: [],
    expected: [],
    covered: [],
  };
  try {
    for (const mode of RULES) {
      const requests: Request[] = [{ ids: IDS, mask: MASK, mode }];
      if (mode !== 'top-k') requests.push({ decode: PROMPT, mode });
      for (const request of requests) {
        const logits = ours(model, request);
        if (logits === undefined) continue;
        made.requests.push(request);
        made.expected.push(logits);
        made.covered.push('decode' in request ? `decode ${mode}` : mode);
      }
    }
  } finally {
    model.dispose();
  }
  return made;
}

describe('docs/model-format.md: the PyTorch reference forward', function () {
  const jobs = new Map<string, Job>();
  const theirs = new Map<string, Logits[] | { error: string }>();
  let dir = '';
  before(async function () {
    skipWithoutTorch(this);
    await initBackend({ backend: 'cpu' });
    dir = mkdtempSync(join(tmpdir(), 'moderoute-pt-'));
    const corpora = new CorpusCache();
    for (const { name, model } of REFERENCE_MODELS)
      jobs.set(name, await job(model, join(dir, name), corpora));
    const results = JSON.parse(
      execFileSync(PYTHON, [join(REFERENCE_DIR, 'moderoute_forward.py'), '--jobs'], {
        input: JSON.stringify(
          [...jobs.values()].map(({ checkpoint, requests }) => ({ checkpoint, requests })),
        ),
        encoding: 'utf8',
        maxBuffer: 1 << 28,
      }),
    ) as (Logits[] | { error: string })[];
    [...jobs.keys()].forEach((name, i) => theirs.set(name, results[i]!));
  });
  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  for (const { name, rules } of REFERENCE_MODELS) {
    it(`should reproduce the logits of a trained ${name} checkpoint (${rules.join(', ')})`, () => {
      const { requests, expected, covered } = jobs.get(name)!;
      assert.deepEqual(covered, rules, 'the rules moderoute accepts for this model');
      const result = theirs.get(name)!;
      if ('error' in result) assert.fail(`the reference failed on ${name}: ${result.error}`);
      requests.forEach((request, i) => {
        const label = `${name}, ${covered[i]}`;
        if ('decode' in request) {
          expectClose(result[i] as number[][], expected[i] as number[][], TOLERANCE, label);
          return;
        }
        // Padded positions' logits are not defined by the format: compare the real ones.
        LENGTHS.forEach((n, b) => {
          const real = (x: Logits) => (x as number[][][])[b]!.slice(0, n);
          expectClose(real(result[i]!), real(expected[i]!), TOLERANCE, `${label}, sequence ${b}`);
        });
      });
    });
  }
});
