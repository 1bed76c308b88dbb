// The plain TF.js peer of `moderoute bench`: packages/experiments/bench/peer/tfjs_tiny_lm.mjs (in
// the repository, not in the published package) trains the bench config's dense model the way a
// TF.js user would write it (tfjs ops, tfjs's gradients, tf.train.adam, nothing of moderoute's),
// in a Node process of its own on tfjs's wasm backend. Like the PyTorch peer it runs as a step
// server (stepServer.ts), its steps interleaved with moderoute's.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StepServer } from './stepServer.js';

/** The TF.js peer script, located from this file as the PyTorch peer's is (torch.ts). */
export const DEFAULT_TFJS_PEER_SCRIPT = fileURLToPath(
  new URL('../../../bench/peer/tfjs_tiny_lm.mjs', import.meta.url),
);

/** The started peer, or why there is none. */
export type TfjsPeer =
  | { available: true; server: StepServer; tfjs: string; backend: string }
  | { available: false; reason: string };

/** Starts the TF.js peer as a step server with this Node. Never throws (see TfjsPeer). */
export async function startTfjsPeer(script: string): Promise<TfjsPeer> {
  if (!existsSync(script))
    return { available: false, reason: `TF.js peer script not found at ${script}` };
  // Its own process, as a user's: no MODEROUTE_* settings, no tsx loader of ours.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('MODEROUTE_')),
  );
  const server = StepServer.start('the TF.js peer', process.execPath, [script], env);
  try {
    const hello = await server.request('hello');
    return {
      available: true,
      server,
      tfjs: String(hello['tfjs']),
      backend: String(hello['backend']),
    };
  } catch (error) {
    await server.close();
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
