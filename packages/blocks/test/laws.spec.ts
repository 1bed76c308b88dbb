import { BLOCK_KINDS } from '../src/index.js';
import { blockLaws } from '@moderoute/testing';
import { WIDTH, makeBlock } from './helpers.js';

describe('every block kind', () => {
  for (const kind of BLOCK_KINDS) {
    blockLaws(
      kind,
      () =>
        makeBlock({ kind, depthRouter: { name: 'mixture-of-depths', config: { capacity: 0.25 } } }),
      {
        width: WIDTH,
        unprocessedPassThrough: kind === 'mod' || kind === 'mode-staged',
      },
    );
  }
  blockLaws(
    'moe with expert-choice routing',
    () => makeBlock({ kind: 'moe', expertRouter: 'expert-choice' }),
    { width: WIDTH },
  );
});
