import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { ProgressReporter } from '../src/index.js';

/** A writable stream that records output and claims (or not) to be a terminal. */
function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as unknown as NodeJS.WriteStream & { text: () => string };
  Object.assign(stream, {
    isTTY,
    columns: 120,
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
    text: () => chunks.join(''),
  });
  return stream;
}

describe('ProgressReporter', () => {
  it('should draw step/total, loss, tokens/s and ETA on a terminal', () => {
    const stream = fakeStream(true);
    const progress = new ProgressReporter({ total: 10, label: 'dense', stream });
    assert.equal(progress.enabled, true);
    progress.start();
    progress.update(3, { loss: 2.34567, tokensPerSecond: 1234.4 });
    progress.stop();
    const text = stream.text();
    for (const part of ['dense', '3/10', 'loss 2.3457', '1234 tok/s', 'ETA'])
      assert.ok(text.includes(part), `missing "${part}" in ${JSON.stringify(text)}`);
  });

  it('should stay silent when not a terminal or in JSON mode', () => {
    for (const [isTTY, json] of [
      [false, false],
      [true, true],
    ] as const) {
      const stream = fakeStream(isTTY);
      const progress = new ProgressReporter({ total: 5, stream, json });
      assert.equal(progress.enabled, false);
      progress.update(1, { loss: 1 });
      progress.stop();
      assert.equal(stream.text(), '');
    }
  });
});
