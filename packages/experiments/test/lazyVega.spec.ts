// vega and vega-lite are loaded only when a plot is drawn: no module of @moderoute/experiments
// imports them statically (only `import type`, erased at compile time, and the dynamic import in
// report/plots.ts), and @moderoute/train, which a program that only trains installs, names them
// nowhere. A static import would load vega (and vega-canvas's top-level await) with the package.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packages = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : /\.[cm]?[jt]s$/.test(entry.name)
        ? [join(dir, entry.name)]
        : [],
  );
}

/** Import or export declarations that load a vega package when the module loads. */
function staticVegaImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const declarations = text.match(/^(?:import|export)\b[^;]*?from\s+['"]vega[^'"]*['"]/gms) ?? [];
  const bare = text.match(/^import\s+['"]vega[^'"]*['"]/gm) ?? [];
  return [...declarations.filter((d) => !/^(?:import|export)\s+type\b/.test(d)), ...bare];
}

describe('vega, loaded lazily', () => {
  it('should not be imported statically by any module of @moderoute/experiments', () => {
    const files = sources(join(packages, 'experiments/src'));
    assert.ok(files.some((f) => f.endsWith('plots.ts')));
    for (const file of files) assert.deepEqual(staticVegaImports(file), [], file);
    const plots = readFileSync(join(packages, 'experiments/src/report/plots.ts'), 'utf8');
    assert.match(plots, /import\('vega'\)/);
  });

  it('should not be named by @moderoute/train, its sources or its package.json', () => {
    for (const file of sources(join(packages, 'train/src')))
      assert.doesNotMatch(readFileSync(file, 'utf8'), /['"]vega(?:-lite)?['"]/, file);
    const manifest = readFileSync(join(packages, 'train/package.json'), 'utf8');
    assert.doesNotMatch(manifest, /"vega/);
  });
});
