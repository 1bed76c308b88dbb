// Uses the plugin in a model by name: the container gets the plugin's module, and the config names
// "projection-hash" where a built-in router name would go. Trains it beside the built-in
// token-choice router on the same model, for comparison.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL_IDS, createContainer, type LanguageModelConfig } from '@moderoute/model';
import { CorpusCache, Trainer, type TrainConfig } from '@moderoute/train';
import { PROJECTION_HASH_MODULE_URL, projectionHashModule } from './projectionHashModule.js';
import { ProjectionHashRouter } from './ProjectionHashRouter.js';

export type Size = 'tiny' | 'full';

export const SIZES: Record<
  Size,
  { model: LanguageModelConfig; train: Omit<TrainConfig, 'model'> }
> = {
  tiny: {
    model: { width: 16, numHeads: 2, numLayers: 2, contextLength: 16, seed: 3 },
    train: { batchSize: 2, steps: 6, learningRate: 1e-2, warmupSteps: 1, evalWindows: 2 },
  },
  full: {
    model: { width: 64, numHeads: 4, numLayers: 4, contextLength: 64, seed: 3 },
    train: { batchSize: 8, steps: 150, learningRate: 3e-3, warmupSteps: 15, evalWindows: 32 },
  },
};

// [docs:model-config]
/** The model: MoE every other block, its experts routed by the plugin, named like a built-in. */
export function pluginModelConfig(size: Size, routerName = 'projection-hash'): LanguageModelConfig {
  return {
    ...SIZES[size].model,
    schedule: {
      pattern: [
        'dense',
        { kind: 'moe', numExperts: 4, expertRouter: { name: routerName, config: { topK: 1 } } },
      ],
    },
  };
}
// [docs:model-config]

export interface PluginRunResult {
  readonly router: string;
  readonly validationBitsPerByte: number;
  readonly firstLoss: number;
  readonly lastLoss: number;
  /** Tokens per expert of the first MoE block at the last step. */
  readonly expertLoad: readonly number[];
  /** Mean fraction of tokens the MoE blocks processed. */
  readonly routedFraction: number;
  /** The first MoE block's gate bias before and after training (projection-hash only). */
  readonly gateBias?: readonly [number, number];
  readonly wallSeconds: number;
}

/** Trains the model once with the plugin router and once with the built-in token-choice router. */
export async function trainWithPlugin(
  options: { size?: Size; routers?: readonly string[] } = {},
): Promise<PluginRunResult[]> {
  const size = options.size ?? 'tiny';
  const outDir = mkdtempSync(join(tmpdir(), 'moderoute-plugin-'));
  const corpusCache = new CorpusCache();
  const results: PluginRunResult[] = [];
  try {
    for (const router of options.routers ?? ['projection-hash', 'token-choice']) {
      // [docs:train]
      const container = createContainer(projectionHashModule);
      const trainer = new Trainer({ ...SIZES[size].train, model: pluginModelConfig(size, router) });
      // [docs:train]
      const losses: number[] = [];
      let expertLoad: readonly number[] = [];
      const gateBias: number[] = [];
      let plugin: ProjectionHashRouter | undefined;
      const readBias = () => plugin && gateBias.push(plugin.gateBiasValue());
      const result = await trainer.run({
        outDir: join(outDir, router),
        resume: false,
        corpusCache,
        modelFactory: container.get(MODEL_IDS.ModelFactory),
        onStart: ({ model }) => {
          const first = model.blocks[1]!.routers()[0];
          if (first instanceof ProjectionHashRouter) plugin = first;
          readBias();
        },
        onStep: (event) => {
          losses.push(event.lmLoss);
          expertLoad = event.routing[1]!.load;
          if (event.step === event.totalSteps) readBias();
        },
      });
      const moe = result.routedFractionPerBlock.filter((_, i) => i % 2 === 1);
      results.push({
        router,
        validationBitsPerByte: result.finalValidationBitsPerByte ?? Number.NaN,
        firstLoss: losses[0]!,
        lastLoss: losses[losses.length - 1]!,
        expertLoad,
        routedFraction: moe.reduce((a, f) => a + f, 0) / moe.length,
        ...(gateBias.length === 2 ? { gateBias: [gateBias[0]!, gateBias[1]!] as const } : {}),
        wallSeconds: result.wallSeconds,
      });
    }
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  return results;
}

/**
 * Trains the plugin model on `replicas` data-parallel replicas: worker threads build their copies
 * of the model with the plugin's module, which they import from its URL. Returns the losses per
 * step.
 */
export async function trainPluginDataParallel(options: {
  size?: Size;
  replicas: number;
}): Promise<number[]> {
  const size = options.size ?? 'tiny';
  const outDir = mkdtempSync(join(tmpdir(), 'moderoute-plugin-dp-'));
  const losses: number[] = [];
  try {
    // [docs:data-parallel]
    const container = createContainer(projectionHashModule);
    await new Trainer({ ...SIZES[size].train, model: pluginModelConfig(size) }).run({
      outDir,
      modelFactory: container.get(MODEL_IDS.ModelFactory),
      replicas: options.replicas,
      replicaModules: PROJECTION_HASH_MODULE_URL,
      onStep: (event) => losses.push(event.loss),
    });
    // [docs:data-parallel]
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  return losses;
}

/** The comparison as a fixed-width table. */
export function formatTable(results: readonly PluginRunResult[]): string {
  const header = [
    'router',
    'val bits/byte',
    'train loss first -> last',
    'routed',
    'expert load (last step)',
    'gate bias',
  ];
  const rows = results.map((r) => [
    r.router,
    r.validationBitsPerByte.toFixed(3),
    `${r.firstLoss.toFixed(3)} -> ${r.lastLoss.toFixed(3)}`,
    r.routedFraction.toFixed(3),
    r.expertLoad.join(' '),
    r.gateBias ? `${r.gateBias[0].toFixed(3)} -> ${r.gateBias[1].toFixed(3)}` : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
