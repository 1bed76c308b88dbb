// The PyTorch peer of `moderoute bench`: packages/experiments/bench/peer/torch_tiny_lm.py (in the
// repository, not in the published package) trains the bench config, dense and MoD, where Python
// with PyTorch is installed. It runs as a step server (stepServer.ts, the script's --serve), so
// that its steps interleave with moderoute's; the report gives moderoute's step time over the
// peer's, pass by pass.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StepServer } from './stepServer.js';

/**
 * The peer script, located from this file (src/bench/peers/ or dist/bench/peers/ of
 * @moderoute/experiments), never from the working directory: present in a clone of the
 * repository, absent from the published package (the peer is then reported unavailable unless
 * `--peer` names a script).
 */
export const DEFAULT_PEER_SCRIPT = fileURLToPath(
  new URL('../../../bench/peer/torch_tiny_lm.py', import.meta.url),
);

/** The started peer, or why there is none. */
export type TorchPeer =
  | { available: true; server: StepServer; torch: string; threads: number; python: string }
  | { available: false; reason: string };

/**
 * Starts the PyTorch peer script as a step server. Never throws: a missing Python, a missing
 * torch or a failing script is reported as unavailable, with the reason.
 */
export async function startTorchPeer(script: string): Promise<TorchPeer> {
  if (!existsSync(script))
    return { available: false, reason: `peer script not found at ${script}` };
  // Debian's interpreter first: python3-torch installs for it, not for a user's own Python.
  const pythons = [...new Set(['/usr/bin/python3', 'python3'])];
  let reason = 'no python3';
  for (const python of pythons) {
    if (python.startsWith('/') && !existsSync(python)) continue;
    const server = StepServer.start(`the PyTorch peer (${python})`, python, [script, '--serve']);
    try {
      const hello = await server.request('hello');
      return {
        available: true,
        server,
        torch: String(hello['torch']),
        threads: Number(hello['threads']),
        python,
      };
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
      await server.close();
    }
  }
  return { available: false, reason };
}
