import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PEER_SCRIPT, runPeer } from '../src/bench/peer.js';

describe('the PyTorch peer of moderoute bench', () => {
  it(
    "should default to the repository's own script, located from the package rather " +
      'than the working directory',
    () => {
      assert.equal(
        DEFAULT_PEER_SCRIPT,
        fileURLToPath(new URL('../bench/peer/torch_tiny_lm.py', import.meta.url)),
      );
      assert.ok(existsSync(DEFAULT_PEER_SCRIPT), DEFAULT_PEER_SCRIPT);
    },
  );

  it('should report a missing script as unavailable, naming the path, without running anything', () => {
    const missing = fileURLToPath(new URL('../bench/peer/absent.py', import.meta.url));
    assert.deepEqual(runPeer(missing), {
      available: false,
      reason: `peer script not found at ${missing}`,
    });
  });
});
