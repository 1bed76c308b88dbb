// End to end in a real browser: builds the playground with Vite's JS API into a temporary folder,
// serves it, and drives it in headless Chromium (the shared harness, test/browser/chromium.ts):
// a tiny MoD model trains on wasm and on webgl (SwiftShader), its loss falls, the routed block's
// heatmap marks exactly the selected tokens, generation gives text, and the checkpoint the page
// downloads loads in Node with restoreModel and gives the logits the page reported. Skips,
// saying so, where Chromium is not installed.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { initBackend, tf } from '@moderoute/core';
import { projectionHashModule } from '@moderoute/example-custom-router-plugin';
import { MODEL_IDS, createContainer } from '@moderoute/model';
import { restoreModel } from '@moderoute/train';
import {
  collectPageErrors,
  hasChromium,
  launchChromium,
  serveDirectory,
  type StaticServer,
  CHROMIUM_PATH,
} from '../../../test/browser/chromium.js';
import { readTar } from '../src/tar.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const artifacts = join(root, '../../test-artifacts');
/** The tiny model: width 32, 2 layers, MoD at 25% on block 1, context 32: 8 tokens selected. */
const FIELDS = {
  width: '32',
  numLayers: '2',
  numHeads: '2',
  contextLength: '32',
  routedBlocks: '1',
  capacity: '0.25',
  batchSize: '4',
  learningRate: '0.01',
  steps: '24',
  evalEvery: '12',
};
const SELECTED = 8;

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Every control has a label; a text too short to train on is refused in words on the page. */
async function checkFormAndTextError(page: Page): Promise<void> {
  const unlabelled = await page.$$eval('input, select, textarea', (controls) =>
    controls
      .filter((c) => (c as HTMLInputElement).labels?.length === 0)
      .map((c) => c.id || c.outerHTML),
  );
  assert.deepEqual(unlabelled, [], 'controls without a label');
  await page.fill('#text', 'far too short');
  await page.click('#reset');
  await page.waitForFunction(() =>
    /The text is too short for a context of \d+: it has 13 bytes/.test(
      document.getElementById('errors')!.textContent!,
    ),
  );
  await page.click('#use-corpus');
}

/**
 * Each routed block has its own labelled router selects, listing the registry's routers of its
 * stage (example 02's plugin among the expert routers); a staged MoDE model built with the plugin
 * router on block 0 only says so in its description and its heatmap labels.
 */
async function checkBlockRouters(page: Page): Promise<void> {
  await page.selectOption('#kind', 'mode-staged');
  await page.fill('#routedBlocks', '0,1');
  const selects = await page.$$eval('#block-routers select', (all) =>
    all.map((s) => ({
      label: (s as HTMLSelectElement).labels![0]!.textContent,
      value: (s as HTMLSelectElement).value,
      options: [...(s as HTMLSelectElement).options].map((o) => o.value),
    })),
  );
  const depth = ['mixture-of-depths'];
  const expert = ['expert-choice', 'projection-hash', 'token-choice'];
  assert.deepEqual(selects, [
    { label: 'Block 0 depth router', value: 'mixture-of-depths', options: depth },
    { label: 'Block 0 expert router', value: 'token-choice', options: expert },
    { label: 'Block 1 depth router', value: 'mixture-of-depths', options: depth },
    { label: 'Block 1 expert router', value: 'token-choice', options: expert },
  ]);
  await page.selectOption('#router-0-expert', 'projection-hash');
  await page.click('#reset');
  await page.waitForFunction(() =>
    document
      .getElementById('model-summary')!
      .textContent!.includes(
        'blocks 0 mode-staged (mixture-of-depths, projection-hash), ' +
          '1 mode-staged (mixture-of-depths, token-choice), 2 dense',
      ),
  );
  // The snapshot of the new model follows its description.
  await page.waitForSelector('.heatmap[data-block="0"]');
  const labels = await page.$$eval('.heatmap h3', (hs) => hs.map((h) => h.textContent));
  assert.match(labels[0]!, /^block 0 \(mode-staged: mixture-of-depths, projection-hash\)/);
  assert.match(labels[1]!, /^block 1 \(mode-staged: mixture-of-depths, token-choice\)/);
  await page.selectOption('#kind', 'mod');
}

async function trainTinyModel(page: Page, backend: string): Promise<void> {
  await page.waitForSelector('#backend-name[data-backend]');
  await checkFormAndTextError(page);
  if (backend === 'wasm') await checkBlockRouters(page);
  for (const [id, value] of Object.entries(FIELDS)) await page.fill(`#${id}`, value);
  await page.selectOption('#backend', backend);
  await page.waitForSelector(`#backend-name[data-backend="${backend}"]`, { timeout: 60_000 });
  await page.click('#reset');
  await page.waitForFunction(
    () =>
      /blocks 0 dense, 1 mod \(mixture-of-depths\)$/.test(
        document.getElementById('model-summary')!.textContent!,
      ),
    null,
    { timeout: 60_000 },
  );
  await page.click('#start');
  await page.waitForSelector('body[data-training="done"]', { timeout: 120_000 });
}

describe('the playground in headless Chromium', function () {
  let dist: string;
  let server: StaticServer;
  let browser: Browser;

  before(async function () {
    if (!hasChromium()) {
      console.log(`    (skipped: no ${CHROMIUM_PATH}; apt-get install chromium-headless-shell)`);
      this.skip();
    }
    dist = mkdtempSync(join(tmpdir(), 'moderoute-playground-'));
    await build({
      root,
      configFile: join(root, 'vite.config.ts'),
      logLevel: 'error',
      build: { outDir: dist, emptyOutDir: true },
    });
    server = await serveDirectory(dist);
    browser = await launchChromium();
    await initBackend({ backend: 'wasm' });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (dist !== undefined) rmSync(dist, { recursive: true, force: true });
  });

  for (const backend of ['wasm', 'webgl']) {
    it(`should train a tiny MoD model on ${backend} and hand a checkpoint to Node`, async () => {
      const page = await browser.newPage({
        acceptDownloads: true,
        viewport: { width: 1280, height: 1600 },
      });
      const errors = collectPageErrors(page);
      await page.goto(server.url);
      await trainTinyModel(page, backend);

      const train = JSON.parse((await page.getAttribute('#loss-panel', 'data-train'))!) as number[];
      const validation = JSON.parse(
        (await page.getAttribute('#loss-panel', 'data-validation'))!,
      ) as number[];
      assert.equal(train.length, 24);
      assert.ok(mean(train.slice(-5)) < mean(train.slice(0, 5)) - 0.5, `training loss: ${train}`);
      assert.ok(validation.at(-1)! < validation[0]!, `validation loss: ${validation}`);

      const heatmaps = await page.$$eval('.heatmap', (rows) =>
        rows.map((r) => ({
          block: (r as HTMLElement).dataset['block'],
          selected: Number((r as HTMLElement).dataset['selected']),
          marked: r.querySelectorAll('.tok.on').length,
          tokens: r.querySelectorAll('.tok').length,
        })),
      );
      assert.deepEqual(heatmaps, [
        { block: '1', selected: SELECTED, marked: SELECTED, tokens: 32 },
      ]);

      await page.fill('#max-tokens', '12');
      await page.click('#generate');
      await page.waitForSelector('#generated[data-tokens="12"]', { timeout: 90_000 });
      const text = await page.textContent('#generated');
      assert.ok(text !== null && text.length > 0, 'generated text');

      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, `playground-${backend}.png`), fullPage: true });

      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click('#download'),
      ]);
      const archive = new Uint8Array(readFileSync((await download.path())!));
      const status = await page.waitForSelector('#download-status[data-probe-logits]');
      const probe = JSON.parse((await status.getAttribute('data-probe'))!) as number[];
      const pageLogits = JSON.parse((await status.getAttribute('data-probe-logits'))!) as number[];
      const dir = join(mkdtempSync(join(tmpdir(), 'moderoute-playground-ckpt-')), 'ckpt-00000024');
      mkdirSync(dir);
      for (const [name, bytes] of readTar(archive)) writeFileSync(join(dir, name), bytes);
      const factory = createContainer(projectionHashModule).get(MODEL_IDS.ModelFactory);
      const before = tf.memory().numTensors;
      const { model, checkpoint } = restoreModel(dir, factory);
      try {
        assert.equal(checkpoint.step, 24);
        const logits = tf.tidy(() => {
          const ids = tf.tensor2d(Int32Array.from(probe), [1, probe.length], 'int32');
          const out = model.forward(ids).logits;
          return Array.from(tf.slice(out, [0, probe.length - 1, 0], [1, 1, 256]).dataSync());
        });
        const worst = Math.max(...logits.map((x, i) => Math.abs(x - pageLogits[i]!)));
        assert.ok(worst < (backend === 'webgl' ? 5e-3 : 1e-4), `logits differ by ${worst}`);
      } finally {
        model.dispose();
        rmSync(dirname(dir), { recursive: true, force: true });
      }
      assert.equal(tf.memory().numTensors, before);

      const input = await page.$('#checkpoint-files');
      await input!.setInputFiles({
        name: 'pytorch_model.bin',
        mimeType: 'application/octet-stream',
        buffer: Buffer.from('not a checkpoint'),
      });
      await page.waitForFunction(() =>
        /not a moderoute checkpoint/.test(document.getElementById('errors')!.textContent!),
      );
      await input!.setInputFiles({
        name: 'ckpt-00000024.tar',
        mimeType: 'application/x-tar',
        buffer: Buffer.from(archive),
      });
      await page.waitForFunction(() =>
        /step 24\)/.test(document.getElementById('model-summary')!.textContent!),
      );

      assert.deepEqual(errors, []);
      await page.close();
    });
  }
});
