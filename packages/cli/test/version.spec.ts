import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { EXIT, main, type Io } from '../src/index.js';

describe('moderoute --version', () => {
  it("should print the package's version and exit 0", async () => {
    const { version } = JSON.parse(
      readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-V']) {
      const out: string[] = [];
      const io: Io = {
        out: (s) => out.push(s),
        err: (s) => out.push(s),
        write: (s) => out.push(s),
      };
      assert.equal(await main(['node', 'moderoute', flag], io), EXIT.ok);
      assert.deepEqual(out, [version]);
    }
  });
});
