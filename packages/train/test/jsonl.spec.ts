import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonlError, JsonlWriter, filterJsonl, readJsonl } from '../src/index.js';
import { useTempDir } from './helpers.js';

describe('JsonlWriter', () => {
  const tmp = useTempDir();

  it('should append one object per line, readable at once', () => {
    const path = join(tmp(), 'logs', 'metrics.jsonl');
    const log = new JsonlWriter(path);
    log.append({ step: 1, loss: 2.5 });
    // In the file before close (no buffering).
    assert.equal(readFileSync(path, 'utf8'), '{"step":1,"loss":2.5}\n');
    log.append({ step: 2, loss: 2.25, aux: { lb: 0.01 } });
    log.close();
    assert.deepEqual(readJsonl(path), [
      { step: 1, loss: 2.5 },
      { step: 2, loss: 2.25, aux: { lb: 0.01 } },
    ]);
    // Appending continues an existing log.
    const again = new JsonlWriter(path);
    again.append({ step: 3 });
    again.close();
    assert.equal(readJsonl(path).length, 3);
  });

  it('should drop an unterminated last line and name a broken one', () => {
    const path = join(tmp(), 'crashed.jsonl');
    writeFileSync(path, '{"step":1}\n{"step":2}\n{"st');
    assert.deepEqual(readJsonl(path), [{ step: 1 }, { step: 2 }]);
    appendFileSync(path, '\n{"step":4}\n');
    assert.throws(
      () => readJsonl(path),
      (e: unknown) =>
        e instanceof JsonlError && e.line === 3 && /line 3 is not valid JSON/.test(e.message),
    );
  });

  it('should read a missing log as empty', () => {
    assert.deepEqual(readJsonl(join(tmp(), 'none.jsonl')), []);
  });

  it('should keep only the records a resumed run keeps', () => {
    const path = join(tmp(), 'resume.jsonl');
    const log = new JsonlWriter<{ step: number }>(path);
    for (let step = 0; step < 6; step++) log.append({ step });
    log.close();
    assert.equal(
      filterJsonl<{ step: number }>(path, (r) => r.step < 4),
      4,
    );
    assert.deepEqual(readJsonl(path), [{ step: 0 }, { step: 1 }, { step: 2 }, { step: 3 }]);
  });
});
