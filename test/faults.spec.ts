// The short fault-injection run kept in CI: three SIGKILLs against `moderoute train` (two inside
// checkpoint writes, one between steps), each followed by a restart, must end on exactly the
// records of an uninterrupted run with nothing left behind. The long run is
// test/faults/kill-resume.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killResume } from './faults/killResume.js';

describe('moderoute train killed with SIGKILL and restarted', function () {
  this.timeout(600_000); // five process starts; the machine may be busy
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'moderoute-faults-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('should end on the losses of an uninterrupted run, bit for bit, leaving no temporaries or lock', async () => {
    const report = await killResume({
      dir,
      kills: 3,
      steps: 12,
      checkpointEvery: 2,
      moments: ['write', 'step', 'write'],
    });
    assert.equal(report.difference, undefined);
    assert.ok(report.identical);
    assert.equal(report.kills, 3);
    assert.ok(report.killsInsideWrites >= 1, JSON.stringify(report));
    assert.ok(
      report.staleLocks >= 1,
      'every kill leaves a stale lock that the next start takes over',
    );
    assert.deepEqual(report.leftovers, []);
  });
});
