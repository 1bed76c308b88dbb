import assert from 'node:assert/strict';
import { ConfigError } from '@moderoute/core';
import { expertLoadSvg, lossVsFlopsSvg, routingHeatmapSvg } from '../src/index.js';

const count = (svg: string, pattern: RegExp) => (svg.match(pattern) ?? []).length;

describe('plots', () => {
  describe('lossVsFlopsSvg', () => {
    it('should draw one line per run with axis titles and a legend', async () => {
      const svg = await lossVsFlopsSvg([
        {
          name: 'dense-small',
          points: [
            { flops: 1e12, bitsPerByte: 3.1 },
            { flops: 2e12, bitsPerByte: 2.7 },
            { flops: 4e12, bitsPerByte: 2.4 },
          ],
        },
        {
          name: 'mod-12.5%',
          points: [
            { flops: 1e12, bitsPerByte: 3.0 },
            { flops: 2e12, bitsPerByte: 2.6 },
          ],
        },
      ]);
      assert.ok(svg.startsWith('<svg'));
      assert.equal(count(svg, /aria-roledescription="line mark"/g), 2);
      assert.equal(count(svg, /aria-roledescription="point"/g), 5);
      for (const text of [
        'dense-small',
        'mod-12.5%',
        'training FLOPs',
        'validation bits per byte',
        'Validation loss against training FLOPs',
      ]) {
        assert.ok(svg.includes(text), `missing "${text}"`);
      }
    });

    it('should refuse no runs and non-positive FLOPs', async () => {
      await assert.rejects(lossVsFlopsSvg([]), ConfigError);
      await assert.rejects(
        lossVsFlopsSvg([{ name: 'a', points: [{ flops: 0, bitsPerByte: 1 }] }]),
        /flops > 0/,
      );
    });
  });

  describe('routingHeatmapSvg', () => {
    it('should draw one cell per (block, token), label tokens by character', async () => {
      const svg = await routingHeatmapSvg({
        tokens: ['T', 'h', 'e', ' ', 'c', 'a', 't'],
        blocks: ['block 1', 'block 3'],
        values: [
          [1, 0, 0, 1, 1, 0, 0],
          [0, 0, 1, 1, 0, 0, 1],
        ],
      });
      assert.equal(count(svg, /aria-roledescription="rect mark"/g), 14);
      for (const text of ['block 1', 'block 3', 'processed', 'skipped', '␣', 'routed block'])
        assert.ok(svg.includes(text), `missing "${text}"`);
      // Both colours are used: 6 processed cells and 8 skipped ones.
      assert.equal(count(svg, /rect mark"[^>]*fill="#3b6fb6"/g), 6);
      assert.equal(count(svg, /rect mark"[^>]*fill="#e8e8e8"/g), 8);
    });

    it('should draw router weights on a continuous scale', async () => {
      const svg = await routingHeatmapSvg(
        { tokens: ['a', 'b'], blocks: ['block 0'], values: [[0.2, 0.9]], mode: 'weight' },
        { title: 'weights' },
      );
      assert.ok(svg.includes('router weight'));
      assert.ok(svg.includes('weights'));
    });

    it('should name values that do not match the tokens', async () => {
      await assert.rejects(
        routingHeatmapSvg({ tokens: ['a'], blocks: ['b'], values: [[1, 0]] }),
        /values\[0\]\.length \(2\) must be tokens\.length \(1\)/,
      );
    });
  });

  describe('expertLoadSvg', () => {
    it('should draw one bar per (block, expert)', async () => {
      const svg = await expertLoadSvg({
        blocks: [
          { name: 'block 1', loads: [0.3, 0.2, 0.25, 0.25] },
          { name: 'block 3', loads: [0.1, 0.4, 0.3, 0.2] },
        ],
      });
      assert.equal(count(svg, /aria-roledescription="bar"/g), 8);
      for (const text of ['block 1', 'block 3', 'expert 0', 'expert 3', 'fraction of tokens'])
        assert.ok(svg.includes(text), `missing "${text}"`);
    });
  });
});
