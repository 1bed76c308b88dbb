// `pnpm bench:ops`'s report: its shape (--json prints it as is), the nominal FLOPs of the
// elementwise primitives, and the table printed without --json.
import Table from 'cli-table3';
import type { BackendName } from '@moderoute/core';

/** Nominal FLOPs per element, forward + backward, of the elementwise primitives. */
export const NOMINAL_FLOPS = { gelu: 12, layerNorm: 20 } as const;

/** One primitive's figures (fractionOfPeak: of the same run's plain 2-D matmul). */
export interface Measurement {
  gflops: number;
  fractionOfPeak: number;
  ms: number;
  flops: number;
  [extra: string]: number | string;
}

/** One backend's run: the matmul peak and each primitive's figures. */
export interface BackendReport {
  backend: BackendName;
  info: string;
  matmulPeakGflops: number;
  matmulShape: string;
  primitives: Record<string, Measurement>;
}

/** Prints one backend's report as a table (plain borders when stdout is not a terminal). */
export function printTable(report: BackendReport): void {
  console.log(`\n${report.info}`);
  console.log(
    `plain 2-D matmul ${report.matmulShape}: ${report.matmulPeakGflops.toFixed(2)} GFLOP/s (the peak below)`,
  );
  const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
  const table = new Table({
    head: ['primitive (fwd+bwd)', 'ms', 'GFLOP/s', 'of peak', 'notes'],
    ...style,
  });
  for (const [name, p] of Object.entries(report.primitives)) {
    const notes =
      name === 'gatherRows'
        ? `${p['msAt512Rows'] !== undefined ? (p['msAt512Rows'] as number).toFixed(2) : '?'} ms at 512 rows, ` +
          `${(p['msPerRowTouched'] as number).toFixed(4)} ms/extra row; one-hot ref ` +
          `${(p['oneHotReferenceMsAt512Rows'] as number).toFixed(1)} ms`
        : name in NOMINAL_FLOPS
          ? `nominal ${NOMINAL_FLOPS[name as keyof typeof NOMINAL_FLOPS]} FLOP/element`
          : typeof p['config'] === 'string'
            ? p['config']
            : '';
    table.push([
      name,
      p.ms.toFixed(2),
      p.gflops.toFixed(2),
      `${(100 * p.fractionOfPeak).toFixed(0)}%`,
      notes,
    ]);
  }
  console.log(table.toString());
}
