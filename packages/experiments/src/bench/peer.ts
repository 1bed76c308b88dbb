// The PyTorch peer of `moderoute bench`: packages/experiments/bench/peer/torch_tiny_lm.py (in the
// repository, not in the published package) trains the bench config, dense and MoD, where Python
// with PyTorch is installed; the report gives moderoute's step time over the peer's.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The peer script, located from this file (src/bench/ or dist/bench/ of @moderoute/experiments), never
 * from the working directory: present in a clone of the repository, absent from the published
 * package (the peer is then reported unavailable unless `--peer` names a script).
 */
export const DEFAULT_PEER_SCRIPT = fileURLToPath(
  new URL('../../bench/peer/torch_tiny_lm.py', import.meta.url),
);

/** The peer's figures, or why there are none. */
export type PeerResult =
  | {
      available: true;
      denseMsPerStep: number;
      modMsPerStep: number;
      torch: string;
      threads: number;
      python: string;
    }
  | { available: false; reason: string };

/**
 * Runs the PyTorch peer script once and parses its JSON line. Never throws: a missing Python,
 * a missing torch or a failing script is reported as unavailable, with the reason.
 */
export function runPeer(script: string): PeerResult {
  if (!existsSync(script))
    return { available: false, reason: `peer script not found at ${script}` };
  // Debian's interpreter first: python3-torch installs for it, not for a user's own Python.
  const pythons = [...new Set(['/usr/bin/python3', 'python3'])];
  let reason = 'no python3';
  for (const python of pythons) {
    if (python.startsWith('/') && !existsSync(python)) continue;
    const run = spawnSync(python, [script], { encoding: 'utf8', timeout: 300_000 });
    if (run.error !== undefined) {
      reason = `${python}: ${run.error.message}`;
      continue;
    }
    if (run.status !== 0) {
      const last = run.stderr.trim().split('\n').pop() ?? '';
      reason = `${python} exited with ${run.status}${last ? `: ${last}` : ''}`;
      continue;
    }
    const line = run.stdout
      .trim()
      .split('\n')
      .reverse()
      .find((l) => l.startsWith('{'));
    try {
      const out = JSON.parse(line ?? '') as Record<string, unknown>;
      const dense = Number(out['dense_ms_per_step']);
      const mod = Number(out['mod_ms_per_step']);
      if (!(dense > 0 && mod > 0)) throw new Error('no dense_ms_per_step / mod_ms_per_step');
      return {
        available: true,
        denseMsPerStep: dense,
        modMsPerStep: mod,
        torch: String(out['torch']),
        threads: Number(out['threads']),
        python,
      };
    } catch (error) {
      reason = `${python}: unreadable peer output (${error instanceof Error ? error.message : String(error)})`;
    }
  }
  return { available: false, reason };
}

/** The faster of two peer runs, figure by figure. */
export function betterPeer(a: PeerResult & { available: true }, b: PeerResult): PeerResult {
  if (!b.available) return a;
  return {
    ...a,
    denseMsPerStep: Math.min(a.denseMsPerStep, b.denseMsPerStep),
    modMsPerStep: Math.min(a.modMsPerStep, b.modMsPerStep),
  };
}
