// Test helpers: temporary folders removed after the suite.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Registers before/after hooks; returns a getter of a fresh temporary folder for the suite. */
export function useTempDir(prefix = 'moderoute-experiments-'): () => string {
  let dir: string | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    if (dir === undefined) throw new Error('temporary folder used outside a test');
    return dir;
  };
}
