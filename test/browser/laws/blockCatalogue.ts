// The blocks the in-browser law page checks on webgl: a subset of the block law suite's catalogue
// (packages/blocks/test/blockLawCatalogue.ts), the very configurations the Node specs check on cpu
// and wasm: every block kind (dense, MoD, MoE, staged and integrated MoDE), and variants with the
// other routers (expert-choice experts, the predictor rule, a finite-capacity token-choice top-2).
import { BLOCK_LAWS, type BlockLawEntry } from '../../../packages/blocks/test/blockLawCatalogue.js';
import { onThePage } from './suites.js';

/** One block configuration of the page. */
export interface BlockEntry extends BlockLawEntry {
  /** Whether the block law suite runs on webgl too (the agreement with cpu always runs). */
  readonly laws: boolean;
}

/** The page's configurations by catalogue name, each with whether its law suite runs on webgl. */
const ON_THE_PAGE: Readonly<Record<string, boolean>> = {
  dense: true,
  mod: true,
  moe: true,
  'mode-staged': true,
  'mode-integrated': true,
  'moe with expert-choice routing': false,
  'moe, token-choice top-2, token-major, finite capacity, normalized after drops': false,
  'mod with the predictor rule': false,
  'staged MoDE with expert-choice experts': false,
};

export const BLOCKS: readonly BlockEntry[] = onThePage(BLOCK_LAWS, ON_THE_PAGE);
