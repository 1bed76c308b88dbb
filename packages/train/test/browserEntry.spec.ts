import assert from 'node:assert/strict';
import { ConfigError } from '@moderoute/core';
import * as browser from '../src/index.browser.js';

describe('the browser entry of @moderoute/train', () => {
  describe('when a Node-only part is used', () => {
    it('should throw a ConfigError naming it and what to use in a browser', () => {
      assert.throws(
        () => new browser.Trainer(),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(
            error.message,
            new RegExp(
              '^new Trainer\\(\\) \\("called in a browser"\\) must be called under ' +
                'Node: .*; in a browser, train with shardGradients and AdamW.apply$',
            ),
          );
          return true;
        },
      );
      assert.throws(
        () => browser.loadCorpus(),
        new RegExp(
          '^ConfigError: loadCorpus\\(\\) \\("called in a browser"\\) must be ' +
            'called under Node: .* encodeBytes and batch it with TrainWindows$',
        ),
      );
    });
  });

  it('should export the pure parts under the same names as the Node entry', async () => {
    const node = await import('../src/index.js');
    for (const name of Object.keys(browser))
      assert.ok(name in node, `${name} is exported by the browser entry but not by the Node entry`);
    for (const name of [
      'AdamW',
      'TrainWindows',
      'shardGradients',
      'encodeSafetensors',
      'cosineLearningRate',
      'resolveTrainConfig',
    ]) {
      assert.equal(
        typeof (browser as Record<string, unknown>)[name],
        typeof (node as Record<string, unknown>)[name],
        name,
      );
      assert.equal(typeof (browser as Record<string, unknown>)[name], 'function', name);
    }
  });
});
