// The plugin reaches the training thread the way it reaches replica workers: through its module's
// URL (`replicaModules`), loaded into a container by the Trainer itself when no modelFactory is
// given (packages/train/src/plugins.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, initBackend } from '@moderoute/core';
import { CorpusCache, Trainer } from '@moderoute/train';
import { PROJECTION_HASH_MODULE_URL } from '../src/index.js';
import { SIZES, pluginModelConfig } from '../src/trainWithPlugin.js';

describe('the plugin module as replicaModules', () => {
  const corpusCache = new CorpusCache();
  let outDir = '';
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });
  beforeEach(() => {
    outDir = mkdtempSync(join(tmpdir(), 'moderoute-plugin-module-'));
  });
  afterEach(() => rmSync(outDir, { recursive: true, force: true }));

  const trainer = () =>
    new Trainer({ ...SIZES.tiny.train, steps: 2, model: pluginModelConfig('tiny') });

  it('should build the plugin model on the training thread from the module URL, with no modelFactory', async () => {
    const result = await trainer().run({
      outDir,
      corpusCache,
      replicaModules: PROJECTION_HASH_MODULE_URL,
    });
    assert.equal(result.stopReason, 'completed');
    assert.equal(result.step, 2);
  });

  it('should refuse a relative module path with a ConfigError naming replicaModules', async () => {
    await assert.rejects(
      trainer().run({ outDir, corpusCache, replicaModules: './projectionHashModule.js' }),
      (e: unknown) => e instanceof ConfigError && e.parameter === 'replicaModules',
    );
  });
});
