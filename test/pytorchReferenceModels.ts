// The checkpoints test/pytorch-reference.spec.ts trains and hands to the PyTorch reference: every
// variant the CLI trains (`moderoute train --variant`, the reproduction's isoFLOP variants) on a
// tiny shape, a MoD model with the predictor rule, and two configs that set every router and
// capacity option a config can hold, and how to reach the reference. `rules` lists what moderoute accepts for each (the forward
// pass under each rule on a padded batch, and decoding), which the test checks.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LanguageModelConfig } from '@moderoute/model';
import { frameworkPresetsModel } from './pytorchReferenceFrameworks.js';
import { isoFlopVariants } from '@moderoute/experiments';

export const CONTEXT = 16;

export interface ReferenceModel {
  readonly name: string;
  readonly model: LanguageModelConfig;
  readonly rules: readonly string[];
}

const SHAPE = { width: 16, numLayers: 2, numHeads: 2 };
const MOD = ['top-k', 'threshold', 'decode threshold', 'causal', 'decode causal'];
// Expert routers decide by their own causal rule under every causal rule.
const EXPERTS = [
  'top-k',
  'threshold',
  'decode threshold',
  'predictor',
  'decode predictor',
  'causal',
  'decode causal',
];
const RULES: Readonly<Record<string, readonly string[]>> = {
  'dense-d16-l2': EXPERTS,
  'mod-every-other': MOD,
  'mod-every-block': MOD,
  'moe-token-choice': EXPERTS,
  // Expert-choice has no causal form: the forward pass routes it as under top-k, decoding refuses.
  'moe-expert-choice': ['top-k', 'threshold', 'predictor', 'causal'],
  'mode-staged': MOD,
  'mode-integrated': EXPERTS,
};

const variants: ReferenceModel[] = isoFlopVariants({
  dense: [SHAPE],
  contextLength: CONTEXT,
  capacity: 0.25,
}).map((v) => ({ name: v.name, model: { ...v.model, mlpRatio: 2 }, rules: RULES[v.name] ?? [] }));

const predictor: ReferenceModel = {
  name: 'mod-predictor',
  model: {
    ...SHAPE,
    contextLength: CONTEXT,
    schedule: {
      pattern: [
        'dense',
        {
          kind: 'mod',
          depthRouter: {
            name: 'mixture-of-depths',
            config: { causalMode: 'predictor', predictorHidden: 8, gate: 'sigmoid' },
            capacity: 0.3,
          },
        },
      ],
    },
  },
  rules: [
    'top-k',
    'threshold',
    'decode threshold',
    'predictor',
    'decode predictor',
    'causal',
    'decode causal',
  ],
};

/** Sigmoid scores, expert groups, token-major top-2, every renormalization and capacity field. */
const richA: ReferenceModel = {
  name: 'options-a',
  model: {
    width: 16,
    numHeads: 4,
    numLayers: 4,
    contextLength: CONTEXT,
    mlpRatio: 1.5,
    tieEmbeddings: true,
    seed: 5,
    schedule: {
      layers: [
        {
          kind: 'moe',
          numExperts: 4,
          expertHidden: 12,
          numSharedExperts: 1,
          expertRouter: {
            name: 'token-choice',
            config: {
              topK: 2,
              scoreFunction: 'sigmoid',
              expertGroups: 2,
              topKGroups: 1,
              groupScore: 'top2-sum',
              placement: 'token-major',
              renormalize: 'after-drops',
              routedScale: 2.5,
            },
            capacity: { preset: 'deepspeed', evalFactor: 0.5 },
          },
        },
        {
          kind: 'mod',
          depthRouter: {
            name: 'mixture-of-depths',
            config: { gate: 'tanh', causalMode: 'none' },
            capacity: 0.4,
          },
        },
        {
          kind: 'mode-integrated',
          numExperts: 3,
          numNoopExperts: 2,
          expertRouter: {
            name: 'token-choice',
            config: { topK: 2, placement: 'token-major', renormalize: true },
            capacity: { preset: 'tutel', multipleOf: 2, evalFactor: 0.8 },
          },
        },
        {
          kind: 'mode-staged',
          numExperts: 2,
          depthRouter: { name: 'mixture-of-depths', config: { gate: 'sigmoid' }, capacity: 0.5 },
          expertRouter: {
            name: 'token-choice',
            config: { topK: 1 },
            // 0.625 x 8 / 2 = 2.5 under top-k: round half to even gives 2.
            capacity: { preset: 'switch', minimum: 1, evalFactor: 0.625 },
          },
        },
      ],
    },
  },
  rules: MOD,
};

/** Rank-major top-2 with score and probs priority, batch groups, expert-choice, defaults merged. */
const richB: ReferenceModel = {
  name: 'options-b',
  model: {
    width: 16,
    numHeads: 2,
    numLayers: 4,
    contextLength: CONTEXT,
    mlpRatio: 2,
    blockDefaults: { moe: { numExperts: 3, expertHidden: 8 } },
    overrides: { '3': { kind: 'mode-staged', numExperts: 2 } },
    schedule: {
      layers: [
        {
          kind: 'moe',
          expertRouter: {
            name: 'token-choice',
            config: { topK: 2, priority: 'score', renormalize: 'before-drops' },
            capacity: { preset: 'megablocks', group: 'batch', evalFactor: 0.7 },
          },
        },
        {
          kind: 'moe',
          expertRouter: {
            name: 'expert-choice',
            config: { slotOrder: 'score' },
            capacity: { evalFactor: 0.6, rounding: 'round', group: 'batch' },
          },
        },
        {
          kind: 'moe',
          expertRouter: {
            name: 'token-choice',
            config: { topK: 2, priority: 'probs' },
            capacity: { rounding: 'floor', evalFactor: 0.9, ceilTokensPerExpert: true },
          },
        },
        {
          kind: 'dense',
          expertRouter: {
            name: 'expert-choice',
            config: { slotOrder: 'position' },
            capacity: { evalFactor: 1.2 },
          },
        },
      ],
    },
  },
  // Rank-major top-2 and score / probs priority with a finite capacity have no causal form.
  rules: ['top-k'],
};

/** Causal rules over a staged expert-choice stage (batch groups) and a dropless top-2. */
const richC: ReferenceModel = {
  name: 'options-c',
  model: {
    width: 16,
    numHeads: 2,
    numLayers: 2,
    contextLength: CONTEXT,
    schedule: {
      layers: [
        {
          kind: 'mode-staged',
          numExperts: 3,
          depthRouter: {
            name: 'mixture-of-depths',
            config: { gate: 'tanh', causalMode: 'predictor' },
            capacity: 0.5,
          },
          expertRouter: {
            name: 'expert-choice',
            config: {},
            capacity: { evalFactor: 1.5, group: 'batch' },
          },
        },
        {
          kind: 'moe',
          numExperts: 3,
          expertRouter: {
            name: 'token-choice',
            config: { topK: 2, priority: 'score', renormalize: 'after-drops' },
            capacity: { dropless: true },
          },
        },
      ],
    },
  },
  // Expert-choice routes with route() under every rule; decoding refuses it.
  rules: ['top-k', 'threshold', 'predictor', 'causal'],
};

export const REFERENCE_MODELS: readonly ReferenceModel[] = [
  ...variants,
  predictor,
  richA,
  richB,
  richC,
  { name: 'framework-presets', model: frameworkPresetsModel, rules: predictor.rules },
];

/** Debian's python3, where python3-torch installs torch (not a pyenv python on PATH). */
export const PYTHON = '/usr/bin/python3';
export const REFERENCE_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'docs',
  'reference',
);

/** Skips the suite, saying so, where PYTHON lacks torch or numpy. */
export function skipWithoutTorch(context: Mocha.Context): void {
  if (spawnSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0) return;
  console.log(
    `      (skipped: ${PYTHON} with torch and numpy is not installed; apt-get install python3-torch)`,
  );
  context.skip();
}
