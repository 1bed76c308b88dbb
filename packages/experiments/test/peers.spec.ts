// The peers of moderoute bench (src/bench/peers/): located from the package, reported unavailable
// with the reason when missing, and spoken to as step servers (one JSON line per request).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StepServer } from '../src/bench/peers/stepServer.js';
import { DEFAULT_TFJS_PEER_SCRIPT, startTfjsPeer } from '../src/bench/peers/tfjs.js';
import { DEFAULT_PEER_SCRIPT, startTorchPeer } from '../src/bench/peers/torch.js';

/** A step server in a few lines of Node: `step x` takes 5 ms, `fail` answers an error. */
const TOY_SERVER = `
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [verb, arg] = line.split(' ');
  const answer = verb === 'step' ? { ms: 5 } : verb === 'memory' ? { peakRssMb: 42 }
    : verb === 'fail' ? { error: 'no model ' + arg } : { ok: true };
  console.log('a print that is not an answer');
  console.log(JSON.stringify(answer));
});`;

describe('the peers of moderoute bench', () => {
  it(
    "should default to the repository's own scripts, located from the package rather " +
      'than the working directory',
    () => {
      assert.equal(
        DEFAULT_PEER_SCRIPT,
        fileURLToPath(new URL('../bench/peer/torch_tiny_lm.py', import.meta.url)),
      );
      assert.equal(
        DEFAULT_TFJS_PEER_SCRIPT,
        fileURLToPath(new URL('../bench/peer/tfjs_tiny_lm.mjs', import.meta.url)),
      );
      assert.ok(existsSync(DEFAULT_PEER_SCRIPT), DEFAULT_PEER_SCRIPT);
      assert.ok(existsSync(DEFAULT_TFJS_PEER_SCRIPT), DEFAULT_TFJS_PEER_SCRIPT);
    },
  );

  it('should report a missing script as unavailable, naming the path, without running anything', async () => {
    const missing = fileURLToPath(new URL('../bench/peer/absent.py', import.meta.url));
    assert.deepEqual(await startTorchPeer(missing), {
      available: false,
      reason: `peer script not found at ${missing}`,
    });
    assert.deepEqual(await startTfjsPeer(missing), {
      available: false,
      reason: `TF.js peer script not found at ${missing}`,
    });
  });

  it("should read a step server's answers in order, skip its other prints, and relay its errors", async () => {
    const server = StepServer.start('the toy peer', process.execPath, ['-e', TOY_SERVER]);
    try {
      assert.deepEqual(await server.request('new dense'), { ok: true });
      assert.equal(await server.step('dense'), 5);
      assert.deepEqual(await server.memory(), { peakRssMb: 42 });
      await assert.rejects(server.request('fail mod'), /^Error: the toy peer: no model mod$/);
      assert.equal(await server.step('dense'), 5);
    } finally {
      await server.close();
    }
    await assert.rejects(server.step('dense'), /the toy peer has ended/);
  });

  it('should report a peer that cannot start as unavailable, with its last error line', async () => {
    const server = StepServer.start('the broken peer', process.execPath, [
      '-e',
      'console.error("ModuleNotFoundError: torch"); process.exit(3)',
    ]);
    await assert.rejects(
      server.request('hello'),
      /the broken peer ended: ModuleNotFoundError: torch/,
    );
    await server.close();
  });
});
