// The form's values as a model config and a training run: which blocks route, each with its own
// routers (by registry name), capacity and experts. Pure, so that it is the same in the page and
// in the Node measurement script.
import type { BlockSpec, RouterSpec } from '@moderoute/blocks';
import type { LanguageModelConfig } from '@moderoute/model';
import type { CapacityPresetName } from '@moderoute/routing';

/** The model kinds the page offers (the BlockKind of the routed blocks). */
export const MODEL_KINDS = ['dense', 'mod', 'moe', 'mode-staged', 'mode-integrated'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

/** The form's fields, as numbers and names. */
export interface FormValues {
  readonly kind: ModelKind;
  readonly width: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly contextLength: number;
  /** Layer indices of the routed blocks ("1,3"), or "all". */
  readonly routedBlocks: string;
  /** MoD: the fraction of each sequence a depth router keeps. */
  readonly capacity: number;
  /** Each routed layer's depth router (registry name); a layer left out gets DEFAULT_DEPTH_ROUTER. */
  readonly depthRouters: Readonly<Record<number, string>>;
  /** Each routed layer's expert router; a layer left out gets DEFAULT_EXPERT_ROUTER. */
  readonly expertRouters: Readonly<Record<number, string>>;
  readonly numExperts: number;
  /** Experts per token (token-choice routers). */
  readonly topK: number;
  /** Expert capacity preset, or '' for the router's default. */
  readonly capacityPreset: string;
  readonly seed: number;
}

export const DEFAULT_DEPTH_ROUTER = 'mixture-of-depths';
export const DEFAULT_EXPERT_ROUTER = 'token-choice';

/** The page's default model: MoD at 25% capacity every other block, width 64, 4 layers. */
export const DEFAULT_FORM: FormValues = {
  kind: 'mod',
  width: 64,
  numLayers: 4,
  numHeads: 4,
  contextLength: 64,
  routedBlocks: '1,3',
  capacity: 0.25,
  depthRouters: {},
  expertRouters: {},
  numExperts: 4,
  topK: 1,
  capacityPreset: '',
  seed: 0,
};

/** The routed layers named by `routedBlocks`; throws a message naming the bad entry. */
export function routedLayers(values: Pick<FormValues, 'numLayers' | 'routedBlocks'>): Set<number> {
  const text = values.routedBlocks.trim();
  if (text === 'all') return new Set(Array.from({ length: values.numLayers }, (_, i) => i));
  const layers = new Set<number>();
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const i = Number(part);
    if (!Number.isInteger(i) || i < 0 || i >= values.numLayers)
      throw new Error(
        `routed blocks: "${part}" is not a layer index from 0 to ${values.numLayers - 1} ` +
          '(give a comma-separated list such as 1,3, or all)',
      );
    layers.add(i);
  }
  return layers;
}

/** The routers a block of `kind` has: a depth router, an expert router, or both. */
export function routerStages(kind: ModelKind): { depth: boolean; expert: boolean } {
  return {
    depth: kind === 'mod' || kind === 'mode-staged',
    expert: kind === 'moe' || kind === 'mode-staged' || kind === 'mode-integrated',
  };
}

function expertRouter(values: FormValues, layer: number): RouterSpec {
  const name = values.expertRouters[layer] ?? DEFAULT_EXPERT_ROUTER;
  return {
    name,
    config: name === 'token-choice' ? { topK: values.topK } : {},
    ...(values.capacityPreset !== ''
      ? { capacity: values.capacityPreset as CapacityPresetName }
      : {}),
  };
}

/** The block routed layer `layer` gets, with its own routers. */
export function routedBlock(values: FormValues, layer: number): BlockSpec | 'dense' {
  const depthRouter: RouterSpec = {
    name: values.depthRouters[layer] ?? DEFAULT_DEPTH_ROUTER,
    capacity: values.capacity,
  };
  const numExperts = values.numExperts;
  switch (values.kind) {
    case 'dense':
      return 'dense';
    case 'mod':
      return { kind: 'mod', depthRouter };
    case 'moe':
      return { kind: 'moe', expertRouter: expertRouter(values, layer), numExperts };
    case 'mode-staged': {
      const expert = expertRouter(values, layer);
      return { kind: 'mode-staged', depthRouter, expertRouter: expert, numExperts };
    }
    case 'mode-integrated':
      return { kind: 'mode-integrated', expertRouter: expertRouter(values, layer), numExperts };
  }
}

/** The model config of the form (validated by the model factory when built). */
export function modelConfig(values: FormValues): LanguageModelConfig {
  const routed = routedLayers(values);
  return {
    width: values.width,
    numLayers: values.numLayers,
    numHeads: values.numHeads,
    contextLength: values.contextLength,
    schedule: {
      layers: Array.from({ length: values.numLayers }, (_, i) =>
        routed.has(i) ? routedBlock(values, i) : 'dense',
      ),
    },
    seed: values.seed,
  };
}
