// The routers the in-browser law page checks on webgl: a subset of the router law suite's
// catalogue (test/routing/builtInRouterLaws.ts, presetRuleRouterLaws.ts), the very configurations
// the Node specs check on cpu and wasm: token-choice in its main configurations and framework
// presets, expert-choice, and Mixture-of-Depths under each causal rule.
import { BUILT_IN_ROUTER_LAWS, type RouterLawEntry } from '../../routing/builtInRouterLaws.js';
import { PRESET_RULE_ROUTER_LAWS } from '../../routing/presetRuleRouterLaws.js';
import { onThePage } from './suites.js';

/** One router configuration of the page. */
export interface RouterEntry extends RouterLawEntry {
  /** Whether the router law suite runs on webgl too (the agreement with cpu always runs). */
  readonly laws: boolean;
}

/** The page's configurations by catalogue name, each with whether its law suite runs on webgl. */
const ON_THE_PAGE: Readonly<Record<string, boolean>> = {
  'TokenChoiceRouter (top-K, position priority)': true,
  'TokenChoiceRouter (score priority, renormalized, jitter)': false,
  'TokenChoiceRouter (token-major placement, probs priority, normalized after drops, scaled)': false,
  'TokenChoiceRouter (noisy top-k gating with the importance and load losses)': false,
  'TokenChoiceRouter (DeepSeek-V3 preset: group-limited, selection bias, sequence-wise loss)': true,
  "TokenChoiceRouter (GShard preset: random second expert; MaxText's capacity)": false,
  'TokenChoiceRouter (Megatron preset: probs drops ranked by the normalized top-K)': false,
  ExpertChoiceRouter: true,
  'MixtureOfDepthsRouter (identity gate, threshold)': true,
  'MixtureOfDepthsRouter (sigmoid gate, predictor)': true,
};

export const ROUTERS: readonly RouterEntry[] = onThePage(
  [...BUILT_IN_ROUTER_LAWS, ...PRESET_RULE_ROUTER_LAWS],
  ON_THE_PAGE,
);
