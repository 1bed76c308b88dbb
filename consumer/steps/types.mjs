// Step 2 of the consumer test: a strict TypeScript 5 program type-checks against the installed
// packages under node16 and bundler resolution, without skipLibCheck (fixtures/types.ts).
import { join } from 'node:path';
import { run } from './shared.mjs';

// Errors tsc reports without skipLibCheck in third-party declarations, none in moderoute's: tfjs's
// own (tfjs-core names DOM types and `Long` under a Node lib; tfjs-backend-wasm names Emscripten's
// global `EmscriptenModule` without depending on its types), @webgpu/types (a dependency of
// tfjs-core, DOM names). Anything else fails the check.
const KNOWN_LIB_ERRORS = [/^node_modules\/@tensorflow\//, /^node_modules\/@webgpu\/types\//];

/** Type-checks the fixtures' two projects in `app`; throws on any error outside KNOWN_LIB_ERRORS. */
export function checkTypes(app) {
  const tsc = join(app, 'node_modules/typescript/bin/tsc');
  for (const project of ['tsconfig.node16.json', 'tsconfig.bundler.json']) {
    const out = run(process.execPath, [tsc, '-p', project, '--pretty', 'false'], app, {
      allowFailure: true,
    });
    const errors = out.split('\n').filter((l) => /error TS\d+/.test(l));
    const ours = errors.filter((l) => !KNOWN_LIB_ERRORS.some((known) => known.test(l)));
    if (ours.length > 0)
      throw new Error(
        `${project}: ${ours.length} type errors outside the known third-party declarations:\n${ours.join('\n')}`,
      );
    process.stderr.write(
      `  ${project}: ${errors.length} errors, all in third-party ` +
        `declarations${errors.length ? `:\n    ${errors.join('\n    ')}` : ''}\n`,
    );
  }
}
