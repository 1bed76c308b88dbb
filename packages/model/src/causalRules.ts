// Which causal decision rules a model decides with, answered once from its routers' declared
// descriptions (Router.describe()): for the evaluation of causal routing, the CLI and the decode
// bench alike.
import type { CausalMode, Router } from '@moderoute/routing';
import type { LanguageModel } from './LanguageModel.js';

/** Which causal rules a model can decide with, from its routers' descriptions. */
export interface CausalRules {
  /**
   * The rules the forward pass and decoding accept for the whole model: with Mixture-of-Depths
   * stages, each of 'threshold' and 'predictor' that every one of their routers declares; without
   * them but with causal expert routers, 'causal'; none for a model without routers.
   */
  readonly modes: readonly CausalMode[];
  /**
   * The rule decoding uses when none is named: 'predictor' when every Mixture-of-Depths router
   * defaults to it, else 'threshold'; 'causal' for expert routers only; undefined without routers.
   */
  readonly defaultMode: CausalMode | undefined;
  /** Whether every router has a causal form, so that the model can be decoded. */
  readonly decodable: boolean;
}

function routersOf(model: LanguageModel): Router[] {
  return model.blocks.flatMap((block) => [...block.routers()]);
}

/** The model's causal rules, from describe() of its routers. */
export function causalRules(model: LanguageModel): CausalRules {
  const routers = routersOf(model);
  const described = routers.map((router) => ({ router, description: router.describe() }));
  const decodable = described.every(
    ({ router, description }) => router.causal !== undefined && description.causalModes.length > 0,
  );
  const depth = described.filter(({ router }) => router.kind === 'mixture-of-depths');
  if (depth.length > 0) {
    const modes = (['threshold', 'predictor'] as const).filter((mode) =>
      depth.every(({ description }) => description.causalModes.includes(mode)),
    );
    const predictor =
      modes.includes('predictor') &&
      depth.every(({ description }) => description.defaultCausalMode === 'predictor');
    return { modes, defaultMode: predictor ? 'predictor' : modes[0], decodable };
  }
  const causal = described.some(({ description }) => description.causalModes.includes('causal'));
  return causal
    ? { modes: ['causal'], defaultMode: 'causal', decodable }
    : { modes: [], defaultMode: undefined, decodable };
}
