// What every step of the consumer test (run.mjs) shares: the repository's paths, the pnpm the
// workspace pins, the headless browser's path and the command runner.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(ROOT, 'consumer', 'fixtures');
export const PNPM = ['--yes', 'pnpm@12.4.2'];
export const CHROMIUM = '/usr/bin/chromium-headless-shell';

/**
 * Runs `cmd args` in `cwd` and returns its stdout; on failure throws with both outputs (or, with
 * `options.allowFailure`, returns them). `options.env` adds to the environment.
 */
export function run(cmd, args, cwd, options = {}) {
  try {
    return execFileSync(cmd, args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      maxBuffer: 64 << 20,
    });
  } catch (error) {
    if (options.allowFailure) return `${error.stdout ?? ''}${error.stderr ?? ''}`;
    throw new Error(
      `${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`,
    );
  }
}
