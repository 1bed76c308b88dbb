// The text report of `moderoute bench`: the variants' table, the peer, MoD's step time against
// its analytic FLOP ratio, and the routing overhead table.
import Table from 'cli-table3';
import type { TrainingBenchReport } from './training.js';

/** The report as tables and lines of text. */
export function formatTrainingReport(report: TrainingBenchReport, tty: boolean): string[] {
  const lines: string[] = [];
  const { variants, routing } = report;
  const peak = report.matmulPeakGflops;
  const dense = variants['dense'];
  const peer = 'peer' in report ? report.peer : undefined;
  const style = tty ? {} : { style: { head: [], border: [] } };
  const how =
    report.replicas > 1 ? 'plain 2-D matmul peak of the replicas at once' : 'plain 2-D matmul peak';
  lines.push(
    `\n${report.info}; ${how} ${peak.toFixed(2)} GFLOP/s; peak RSS ${report.peakRssMb.toFixed(0)} MB`,
  );
  const peerMs: Record<string, number> = peer
    ? { dense: peer.denseMsPerStep, mod: peer.modMsPerStep }
    : {};
  const t = new Table({
    head: [
      'variant',
      'ms/step',
      'tokens/s',
      'GFLOP/step',
      'GFLOP/s',
      'of peak',
      'x dense time',
      'x dense FLOPs',
      'x peer time',
      'params',
    ],
    ...style,
  });
  for (const [name, v] of Object.entries(variants)) {
    const p = peerMs[name];
    t.push([
      name,
      v.msPerStep.toFixed(1),
      v.tokensPerSec.toFixed(0),
      (v.flopsPerStep / 1e9).toFixed(2),
      v.gflops.toFixed(2),
      `${(100 * v.fractionOfPeak).toFixed(0)}%`,
      dense ? (v.msPerStep / dense.msPerStep).toFixed(2) : '-',
      dense ? (v.flopsPerStep / dense.flopsPerStep).toFixed(2) : '-',
      p !== undefined ? (v.msPerStep / p).toFixed(2) : '-',
      String(v.parameters),
    ]);
  }
  lines.push(t.toString());
  if (peer) {
    lines.push(
      `peer: PyTorch ${peer.torch}, ${peer.threads} thread(s), same config, same run ` +
        `(better of a run before and one after): dense ${peer.denseMsPerStep} ms/step, ` +
        `MoD ${peer.modMsPerStep} ms/step (target: moderoute at most 2x)`,
    );
  } else {
    lines.push(
      `peer: skipped (${'peerUnavailable' in report ? report.peerUnavailable : 'unavailable'})`,
    );
  }
  if (report.modOverDense) {
    const m = report.modOverDense;
    lines.push(
      `MoD/dense step time ${m.measured.toFixed(3)} vs analytic FLOP ratio ` +
        `${m.analytic.toFixed(3)} (target: at most 1.1x: ` +
        `${(m.measured / m.analytic).toFixed(2)}x)`,
    );
  }
  if (routing) {
    const r = new Table({
      head: ['routing (fwd+bwd)', 'ms', 'dense block ms', 'of dense block'],
      ...style,
    });
    for (const [name, v] of Object.entries(routing))
      r.push([
        name,
        v.ms.toFixed(2),
        v.denseBlockMs.toFixed(2),
        `${(100 * v.fractionOfDenseBlock).toFixed(1)}%`,
      ]);
    lines.push(r.toString());
  }
  return lines;
}
