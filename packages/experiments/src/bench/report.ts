// The text report of `moderoute bench`: the variants' table (medians over the interleaved passes,
// with each variant's memory, and with `--own-kernels both` each variant's own/tfjs kernels step
// ratio), the peers, the ratios pass by pass (median and range), and the routing overhead table.
import Table from 'cli-table3';
import { denseRatioKey, ownOverTfjsKey } from './benchRatios.js';
import { tfjsKernelsTwin } from './config.js';
import type { Spread } from './passes.js';
import { PHASE_COLUMNS } from './phases.js';
import type { TrainingBenchReport } from './training.js';

const mb = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(0));
const range = (s: Spread, digits = 2) =>
  `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`;

const ownKernelsNote = {
  on: 'on',
  off: 'off',
  both: 'on, and off in each "(tfjs kernels)" runner, interleaved with it',
} as const;

/** The report as tables and lines of text. */
export function formatTrainingReport(report: TrainingBenchReport, tty: boolean): string[] {
  const lines: string[] = [];
  const { variants, routing, ratios } = report;
  const style = tty ? {} : { style: { head: [], border: [] } };
  const how =
    report.replicas > 1 ? 'plain 2-D matmul peak of the replicas at once' : 'plain 2-D matmul peak';
  lines.push(
    `\n${report.info}; ${report.passes} interleaved passes of ${report.steps} timed steps ` +
      `(medians; ranges over the passes); ${how} ${range(report.matmulPeakSpread)} GFLOP/s` +
      (report.ownProductPeakSpread
        ? ` (with core's own product ${range(report.ownProductPeakSpread)})`
        : '') +
      '; ' +
      `this process's peak RSS ${mb(report.peakRssMb)} MB (every variant alive at once); ` +
      `core's own kernels ${ownKernelsNote[report.ownKernels]}`,
  );
  const both = report.ownKernels === 'both';
  const twins = both ? Object.keys(variants).filter((n) => tfjsKernelsTwin(n) in variants) : [];
  const t = new Table({
    head: [
      'variant',
      'ms/step (passes)',
      'tokens/s',
      'GFLOP/step',
      'of peak',
      'x dense time',
      ...(both ? ['own / tfjs kernels'] : []),
      'x dense FLOPs',
      'peak RSS MB',
      'wasm heap MB',
      'params',
    ],
    ...style,
  });
  for (const [name, v] of Object.entries(variants)) {
    const m = v.memory && 'peakRssMb' in v.memory ? v.memory : undefined;
    const ratio = ratios[denseRatioKey(name, twins)];
    const ownOverTfjs = ratios[ownOverTfjsKey(name)];
    t.push([
      name,
      `${v.msPerStep.toFixed(1)} (${Math.min(...v.msPerStepPasses).toFixed(0)}-${Math.max(...v.msPerStepPasses).toFixed(0)})`,
      v.tokensPerSec.toFixed(0),
      (v.flopsPerStep / 1e9).toFixed(2),
      `${(100 * v.fractionOfPeak).toFixed(0)}%`,
      ratio ? range(ratio) : '-',
      ...(both ? [ownOverTfjs ? range(ownOverTfjs) : '-'] : []),
      variants['dense'] ? (v.flopsPerStep / variants['dense'].flopsPerStep).toFixed(2) : '-',
      m ? mb(m.peakRssMb) : v.memory && 'error' in v.memory ? 'error' : '-',
      m ? mb(m.wasmHeapMb) : '-',
      String(v.parameters),
    ]);
  }
  lines.push(t.toString());
  const failed = Object.entries(variants).filter(([, v]) => v.memory && 'error' in v.memory);
  for (const [name, v] of failed)
    lines.push(`memory of ${name}: ${(v.memory as { error: string }).error}`);
  if ('peer' in report && report.peer) {
    const p = report.peer;
    lines.push(
      `PyTorch peer: torch ${p.torch}, ${p.threads} thread(s), same config, interleaved: dense ` +
        `${p.denseMsPerStep.toFixed(1)} ms/step, MoD ${p.modMsPerStep.toFixed(1)} ms/step, ` +
        `peak RSS ${mb(p.memory.peakRssMb)} MB`,
    );
  } else if ('peerUnavailable' in report)
    lines.push(`PyTorch peer: skipped (${report.peerUnavailable})`);
  if ('tfjsPeer' in report && report.tfjsPeer) {
    const p = report.tfjsPeer;
    lines.push(
      `TF.js peer: tfjs ${p.tfjs} on ${p.backend} (tfjs ops, its gradients, tf.train.adam), ` +
        `dense, interleaved: ${p.msPerStep.toFixed(1)} ms/step, peak RSS ` +
        `${mb(p.memory.peakRssMb)} MB, wasm heap ${mb(p.memory.wasmHeapMb)} MB`,
    );
  } else if ('tfjsPeerUnavailable' in report)
    lines.push(`TF.js peer: skipped (${report.tfjsPeerUnavailable})`);
  const r = new Table({ head: ['ratio, pass by pass', 'median (range)', 'target'], ...style });
  const targets: Record<string, string> = {
    'dense of peak': 'at least 0.70',
    'dense / pytorch dense': 'at most 1.6',
    'mod / dense over analytic': 'at most 1.1',
    'tfjs dense / dense': 'at least 3',
  };
  // Each variant's own ratios are the variants table's columns.
  const inTable = (name: string) =>
    name !== 'tfjs dense / dense' &&
    (name.endsWith(' / dense') ||
      name.endsWith(` / ${tfjsKernelsTwin('dense')}`) ||
      name.endsWith(ownOverTfjsKey('')));
  for (const [name, s] of Object.entries(ratios))
    if (!inTable(name)) r.push([name, range(s), targets[name] ?? '']);
  lines.push(r.toString());
  if ('phases' in report && report.phases) {
    const { variants: phases, modOverDenseOwnRows: ownRows } = report.phases;
    const p = new Table({
      head: ['data-parallel step (ms)', ...PHASE_COLUMNS.map(([, label]) => label)],
      ...style,
    });
    for (const [name, v] of Object.entries(phases))
      p.push([name, ...PHASE_COLUMNS.map(([key]) => v[key].toFixed(2))]);
    lines.push(p.toString());
    if (ownRows)
      lines.push(
        `mod / dense over analytic on the training thread's own rows alone (no post, wait, ` +
          `combine, update or fold): ${range(ownRows)}`,
      );
  }
  if (routing) {
    const o = new Table({
      head: ['routing (fwd+bwd)', 'ms', 'dense block ms', 'of dense block'],
      ...style,
    });
    for (const [name, v] of Object.entries(routing))
      o.push([
        name,
        v.ms.toFixed(2),
        v.denseBlockMs.toFixed(2),
        `${(100 * v.fractionOfDenseBlock).toFixed(1)}%`,
      ]);
    lines.push(o.toString());
  }
  return lines;
}
