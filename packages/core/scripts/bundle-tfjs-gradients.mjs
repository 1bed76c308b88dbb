// Builds dist/tfjs-gradients.node.js: tfjs-core's gradient registrations and chained tensor methods
// (`t.sum()`), loadable by Node.
//
// tfjs-core's Node entry (dist/tf-core.node.js, CommonJS) registers neither, and the files that
// do (dist/register_all_gradients.js, dist/public/chained_ops/register_all_chained_ops.js) are ES
// modules with extensionless imports in a package without "type": "module", which Node cannot
// load. Bundlers can, so the browser entry imports them directly (src/gradients.browser.ts); for
// Node this script bundles them into one ES module, as the union @tensorflow/tfjs package does in
// its own Node build. The copy of tfjs-core internals it carries reaches the engine, the kernel
// and gradient registries and the Tensor class through tfjs's global registry, so it registers
// into whichever tfjs-core the consumer has; `@tensorflow/tfjs-core` itself is imported first (and
// left external) so that its Tensor class is the one the chained methods attach to.
//
// Run by the root `build`/`typecheck` scripts, by `prepare` (pnpm install) and `prepack`; takes
// well under a second.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist', 'tfjs-gradients.node.js');
mkdirSync(dirname(outfile), { recursive: true });

await build({
  stdin: {
    contents: [
      "import '@tensorflow/tfjs-core';",
      "import '@tensorflow/tfjs-core/dist/register_all_gradients';",
      "import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';",
    ].join('\n'),
    resolveDir: root,
    sourcefile: 'tfjs-gradients.node.js',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile,
  legalComments: 'eof',
  logLevel: 'warning',
  plugins: [
    {
      name: 'tfjs-core-external',
      setup(b) {
        // Only the package root stays external; the deep imports above are bundled.
        b.onResolve({ filter: /^@tensorflow\/tfjs-core$/ }, (args) => ({
          path: args.path,
          external: true,
        }));
      },
    },
  ],
});
// Its declarations: the chained methods' types (module augmentations of tfjs-core's Tensor).
writeFileSync(
  join(root, 'dist', 'tfjs-gradients.node.d.ts'),
  "// Side effects only: registers tfjs-core's gradients and chained " +
    'methods.\nimport ' +
    "'@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';\n",
);
