// `moderoute bench --own-kernels`: a variant's runner switches core's own wasm kernels for its own
// steps only (seen in tf.profile's kernel names), and with `both` each variant is compared with
// its "(tfjs kernels)" twin pass by pass (benchRatios.ts).
import assert from 'node:assert/strict';
import {
  LAYER_NORM_FORWARD,
  ownKernelsOn,
  ownLayerNormKernels,
  setOwnKernels,
  tf,
} from '@moderoute/core';
import { createContainer, MODEL_IDS, type LanguageModelConfig } from '@moderoute/model';
import { expectNoLeaksAsync, useBackend } from '@moderoute/testing';
import { benchRatios } from '../src/bench/benchRatios.js';
import { PAIRED_MOD_DENSE } from '../src/bench/config.js';
import { spreadOf } from '../src/bench/passes.js';
import { startVariant } from '../src/bench/variant.js';

/** The bench's vocabulary and sequence at a tiny width. */
const TINY: LanguageModelConfig = {
  vocabSize: 256,
  width: 8,
  numLayers: 1,
  numHeads: 1,
  contextLength: 128,
  mlpRatio: 1,
};

describe('moderoute bench with own kernels switched per runner', () => {
  useBackend('wasm');
  after(() => setOwnKernels(undefined));

  it("should run each runner's steps with its switch, whatever the thread's", async () => {
    assert.equal(ownLayerNormKernels(), true, 'the own layer norm serves wasm here');
    const models = createContainer().get(MODEL_IDS.ModelFactory);
    /** Whether one step of a fresh runner ran the own layer-norm kernel. */
    const ranOwn = async (ownKernels: boolean | undefined): Promise<boolean> => {
      let names: string[] = [];
      await expectNoLeaksAsync(async () => {
        const runner = await startVariant(
          TINY,
          'adamw',
          models,
          undefined,
          ownKernels === undefined ? {} : { ownKernels },
        );
        names = (await tf.profile(() => runner.step().then(() => []))).kernelNames;
        await runner.dispose();
      });
      return names.includes(LAYER_NORM_FORWARD);
    };
    setOwnKernels(true);
    assert.equal(await ranOwn(false), false);
    assert.equal(ownKernelsOn(), true, "the thread's switch is restored");
    setOwnKernels(false);
    assert.equal(await ranOwn(true), true);
    assert.equal(ownKernelsOn(), false, "the thread's switch is restored");
    assert.equal(await ranOwn(undefined), false, "without a switch, the thread's");
  });

  it('should give each variant its own/tfjs kernels ratio pass by pass, its twin beside its twin dense', () => {
    const passes = [
      { peak: 50, dense: 100, 'dense (tfjs kernels)': 125, mod: 60, 'mod (tfjs kernels)': 80 },
      { peak: 40, dense: 200, 'dense (tfjs kernels)': 220, mod: 120, 'mod (tfjs kernels)': 132 },
      { peak: 50, dense: 110, 'dense (tfjs kernels)': 100, mod: 66, 'mod (tfjs kernels)': 66 },
    ];
    const flops = { dense: 5e9, 'dense (tfjs kernels)': 5e9, mod: 3e9, 'mod (tfjs kernels)': 3e9 };
    const r = benchRatios(passes, flops, ['dense', 'mod']);
    assert.deepEqual(r['dense: own / tfjs kernels'], spreadOf([0.8, 200 / 220, 1.1]));
    assert.deepEqual(r['mod: own / tfjs kernels'], spreadOf([0.75, 120 / 132, 1]));
    assert.deepEqual(r['mod / dense'], spreadOf([0.6, 0.6, 0.6]));
    assert.deepEqual(
      r['mod (tfjs kernels) / dense (tfjs kernels)'],
      spreadOf([80 / 125, 132 / 220, 66 / 100]),
    );
    assert.equal(r['dense (tfjs kernels) / dense'], undefined);
    assert.ok(r['mod (tfjs kernels) / dense (tfjs kernels) over analytic']);
    assert.equal(r['dense of own-product peak'], undefined, 'no own-product peak measured');
    const withOwnPeak = benchRatios(
      passes.map((p, i) => ({ ...p, 'own product peak': [100, 80, 0][i]! })),
      flops,
      ['dense', 'mod'],
    );
    // A pass whose own-product peak is missing (0 here) gives no ratio.
    assert.deepEqual(
      withOwnPeak['dense of own-product peak'],
      spreadOf([0.5, 5e9 / 200 / 1e6 / 80]),
    );
    // MoD over dense from the steps paired round by round, where a pass has that figure.
    const paired = benchRatios(
      passes.map((p, i) => (i === 1 ? p : { ...p, [PAIRED_MOD_DENSE]: [0.66, 0, 0.69][i]! })),
      flops,
      [],
    );
    assert.deepEqual(
      paired['mod / dense over analytic, paired steps'],
      spreadOf([0.66 / 0.6, 0.69 / 0.6]),
    );
    // Without twins, no such ratios.
    const plain = benchRatios(passes, { dense: 5e9, mod: 3e9 }, []);
    assert.deepEqual(
      Object.keys(plain).filter((k) => k.includes('tfjs kernels')),
      [],
    );
  });
});
