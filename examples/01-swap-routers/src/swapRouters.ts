// Example 1: one model trained three times, changing only the routing scheme of its routed
// blocks: token-choice (Switch), expert-choice (Zhou et al. 2022) and expert-choice
// Mixture-of-Depths (Raposo et al. 2024). The swap is shown two ways, which build the same model:
//   - as one config field: the router's registry name in the block spec;
//   - as one container binding: the config names a fixed router, "routing-scheme", and the
//     container binds a RouterRegistration of that name to the chosen built-in factory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container } from 'inversify';
import type { BlockSpec } from '@moderoute/blocks';
import { MODEL_IDS, createContainer, type LanguageModelConfig } from '@moderoute/model';
import { BUILTIN_ROUTERS, routerModule, type RoutingKind } from '@moderoute/routing';
import { CorpusCache, Trainer, type TrainConfig, type TrainResult } from '@moderoute/train';

/** The three schemes, by their registry names. */
export const SCHEMES = ['token-choice', 'expert-choice', 'mixture-of-depths'] as const;
export type Scheme = (typeof SCHEMES)[number];

/** The name the config refers to when the scheme comes from the container binding. */
export const SCHEME_BINDING = 'routing-scheme';

export type Size = 'tiny' | 'full';

/** Model and run settings per size: `tiny` for the test suite, `full` for a real comparison. */
export const SIZES: Record<
  Size,
  { model: LanguageModelConfig; train: Omit<TrainConfig, 'model'> }
> = {
  tiny: {
    model: { width: 16, numHeads: 2, numLayers: 2, contextLength: 16, seed: 1 },
    train: { batchSize: 2, steps: 4, learningRate: 1e-2, warmupSteps: 1, evalWindows: 2 },
  },
  full: {
    model: { width: 64, numHeads: 4, numLayers: 4, contextLength: 64, seed: 1 },
    train: { batchSize: 8, steps: 150, learningRate: 3e-3, warmupSteps: 15, evalWindows: 32 },
  },
};

/**
 * The plan a router of each scheme returns. An expert router (token-choice, expert-choice) routes
 * among the experts of a `moe` block; a Mixture-of-Depths router routes tokens around a whole
 * `mod` block. The block kind follows from the router's kind; the config names the router.
 */
export const SCHEME_KINDS: Record<Scheme, RoutingKind> = {
  'token-choice': 'token-choice',
  'expert-choice': 'expert-choice',
  'mixture-of-depths': 'mixture-of-depths',
};

/** The routed block: `routerName` is the only field that differs between schemes of one kind. */
export function routedBlock(kind: RoutingKind, routerName: string): BlockSpec {
  return kind === 'mixture-of-depths'
    ? { kind: 'mod', depthRouter: routerName }
    : { kind: 'moe', numExperts: 4, expertRouter: routerName };
}

/** The model: dense and routed blocks alternating (the MoD paper's best placement). */
export function modelConfig(size: Size, routed: BlockSpec): LanguageModelConfig {
  return { ...SIZES[size].model, schedule: { pattern: ['dense', routed] } };
}

/** Way 1, one config field: the router's registry name in the block spec. */
export function configSwap(
  scheme: Scheme,
  size: Size,
): { config: LanguageModelConfig; container: Container } {
  return {
    config: modelConfig(size, routedBlock(SCHEME_KINDS[scheme], scheme)),
    container: createContainer(),
  };
}

/**
 * Way 2, one container binding: the config always names "routing-scheme"; the container binds a
 * RouterRegistration of that name to the built-in factory of the chosen scheme. No plugin code:
 * the binding reuses the registry's own factories (BUILTIN_ROUTERS).
 */
export function bindingSwap(
  scheme: Scheme,
  size: Size,
): { config: LanguageModelConfig; container: Container } {
  const builtin = BUILTIN_ROUTERS.find((r) => r.name === scheme)!;
  const binding = routerModule(SCHEME_BINDING, builtin.factory);
  return {
    config: modelConfig(size, routedBlock(SCHEME_KINDS[scheme], SCHEME_BINDING)),
    container: createContainer(binding),
  };
}

export interface SchemeResult {
  readonly scheme: Scheme;
  readonly validationBitsPerByte: number;
  readonly trainingFlops: number;
  readonly wallSeconds: number;
  readonly routedFractionPerBlock: readonly number[];
  readonly parameters: number;
  readonly result: TrainResult;
}

export interface SwapRoutersOptions {
  readonly size?: Size;
  /** Which way to swap: the config field (default) or the container binding. */
  readonly swap?: 'config' | 'binding';
  /** Schemes to train (default all three). */
  readonly schemes?: readonly Scheme[];
  /** Where the runs go (default a temporary directory, removed afterwards). */
  readonly outDir?: string;
  readonly onResult?: (result: SchemeResult) => void;
}

/** Trains the same model once per scheme and returns one row per scheme. */
export async function swapRouters(options: SwapRoutersOptions = {}): Promise<SchemeResult[]> {
  const size = options.size ?? 'tiny';
  const outDir = options.outDir ?? mkdtempSync(join(tmpdir(), 'moderoute-swap-routers-'));
  const corpusCache = new CorpusCache();
  const results: SchemeResult[] = [];
  try {
    for (const scheme of options.schemes ?? SCHEMES) {
      const { config, container } = (options.swap === 'binding' ? bindingSwap : configSwap)(
        scheme,
        size,
      );
      const trainer = new Trainer({ ...SIZES[size].train, model: config });
      const result = await trainer.run({
        outDir: join(outDir, scheme),
        resume: false,
        corpusCache,
        modelFactory: container.get(MODEL_IDS.ModelFactory),
      });
      const row: SchemeResult = {
        scheme,
        validationBitsPerByte: result.finalValidationBitsPerByte ?? Number.NaN,
        trainingFlops: result.trainingFlops,
        wallSeconds: result.wallSeconds,
        routedFractionPerBlock: result.routedFractionPerBlock,
        parameters: result.parameters,
        result,
      };
      results.push(row);
      options.onResult?.(row);
    }
  } finally {
    if (options.outDir === undefined) rmSync(outDir, { recursive: true, force: true });
  }
  return results;
}

/** The comparison as a fixed-width table. */
export function formatTable(results: readonly SchemeResult[]): string {
  const header = [
    'scheme',
    'val bits/byte',
    'train GFLOPs',
    'wall s',
    'params',
    'routed fraction per block',
  ];
  const rows = results.map((r) => [
    r.scheme,
    r.validationBitsPerByte.toFixed(3),
    (r.trainingFlops / 1e9).toFixed(2),
    r.wallSeconds.toFixed(1),
    String(r.parameters),
    r.routedFractionPerBlock.map((f) => f.toFixed(3)).join(' '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) =>
        i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
