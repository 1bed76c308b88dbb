// A check of the consumer test (run.mjs): what installing @moderoute/train alone brings, read
// from the installed tree of the consumer project, must hold no plotting library. Plotting (vega,
// vega-lite) belongs to @moderoute/experiments, which the same project also installs, so the check
// also proves it can see vega where it is.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Throws unless @moderoute/train's dependency closure in `app` holds @moderoute/core and no vega. */
export function checkTrainAlone(app, run) {
  // What installing @moderoute/train alone brings: the closure of its dependencies in the
  // installed tree (npm ls lists a deduplicated package's dependencies once, wherever it sits).
  const tree = JSON.parse(run('npm', ['ls', '--all', '--json'], app, { allowFailure: true }));
  const dependenciesOf = new Map();
  (function walk(node) {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      const names = Object.keys(child.dependencies ?? {});
      dependenciesOf.set(name, [...new Set([...(dependenciesOf.get(name) ?? []), ...names])]);
      walk(child);
    }
  })(tree);
  const closure = new Set(['@moderoute/train']);
  for (const name of closure) for (const dep of dependenciesOf.get(name) ?? []) closure.add(dep);
  const plotting = [...closure].filter((n) => /^vega/.test(n));
  if (plotting.length > 0 || !closure.has('@moderoute/core'))
    throw new Error(
      `@moderoute/train's installed tree: ${[...closure].sort().join(', ')}; ` +
        `expected @moderoute/core and no vega (found ${plotting.join(', ') || 'none'})`,
    );
  const trainPeers = Object.keys(
    JSON.parse(readFileSync(join(app, 'node_modules/@moderoute/train/package.json'), 'utf8'))
      .peerDependencies ?? {},
  );
  if (trainPeers.some((n) => /^vega/.test(n)))
    throw new Error(`@moderoute/train still names vega among its peers: ${trainPeers.join(', ')}`);
  // The check sees vega where it is: among @moderoute/experiments' dependencies.
  if (!(dependenciesOf.get('@moderoute/experiments') ?? []).includes('vega'))
    throw new Error('npm ls shows no vega under @moderoute/experiments: the check is blind');
  process.stderr.write(
    `  @moderoute/train alone brings ${closure.size - 1} packages, no vega ` +
      `(vega comes with @moderoute/experiments)\n`,
  );
}
