// Every block configuration of the catalogue (blockLawCatalogue.ts) through the block law suite.
import { blockLaws } from '@moderoute/testing';
import { BLOCK_LAWS } from './blockLawCatalogue.js';

describe('every block kind', () => {
  for (const { name, make, options } of BLOCK_LAWS) blockLaws(name, make, options);
});
