// Builds dist/kernels/kernels*.wasm: core's own wasm kernels (assembly/*.ts, AssemblyScript, one
// module from assembly/index.ts), twice:
// for the wasm backend's single-thread build (a plain imported memory) and for its threaded build
// (a shared imported memory, 4 GB maximum as that build declares). No runtime, no data segment,
// no exported memory: the kernels only read and write the tensors whose offsets they are given.
//
// Run by the root `build`/`typecheck`/`moderoute` scripts, by core's `build`, `prepare` and
// `prepack`; skipped when both files are newer than every source and this script (a build takes a
// few seconds). The .wasm files are build output (dist/ is not committed).
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'kernels');
mkdirSync(out, { recursive: true });

const common = ['--enable', 'simd', '--runtime', 'stub', '--importMemory', '--noExportMemory'];
const builds = [
  ['kernels.wasm', []],
  ['kernels.shared.wasm', ['--enable', 'threads', '--sharedMemory', '--maximumMemory', '65536']],
];
const assembly = join(root, 'assembly');
const source = join(assembly, 'index.ts');
const inputsChanged = Math.max(
  ...readdirSync(assembly).map((f) => statSync(join(assembly, f)).mtimeMs),
  statSync(fileURLToPath(import.meta.url)).mtimeMs,
);
const upToDate = builds.every(
  ([file]) => existsSync(join(out, file)) && statSync(join(out, file)).mtimeMs > inputsChanged,
);
for (const [file, flags] of upToDate ? [] : builds) {
  const { error, stderr } = await asc.main(
    [source, '-O3', '--noAssert', ...common, ...flags, '--outFile', join(out, file)],
    {},
  );
  if (error) {
    process.stderr.write(stderr.toString());
    throw new Error(`asc failed on assembly/index.ts (${file}): ${error.message}`);
  }
}
