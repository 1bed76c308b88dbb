// The bench's tables (without --json): decode speed, causal decisions against top-k, validation
// loss by decision rule and the targets' spread over retrains.
import Table from 'cli-table3';
import type { CausalEvaluation } from '@moderoute/model';
import {
  CONTEXT,
  TAIL,
  TARGETS,
  type Contender,
  type DecodeRow,
  type DepthRule,
} from './config.js';
import type { DecodeResult, StepProfile } from './measure.js';
import type { TargetReport } from './targets.js';

/** What the tables show. */
export interface DecodeTables {
  readonly info: string;
  readonly promptTokens: number;
  readonly evalWindows: number;
  readonly profile: boolean;
  readonly contenders: readonly Contender[];
  readonly rows: readonly DecodeRow[];
  readonly best: Record<string, DecodeResult>;
  readonly profiles: Record<string, StepProfile>;
  readonly denseTps: number | undefined;
  readonly evaluations: Record<string, CausalEvaluation>;
  readonly targets: TargetReport;
  readonly wallSeconds: number;
}

const pct = (f: number) => `${(100 * f).toFixed(1)}%`;

/** Prints the bench's tables to stdout (plain borders when stdout is not a terminal). */
export function printTables(r: DecodeTables): void {
  const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
  console.log(
    `\n${r.info}; contextLength ${CONTEXT}: ${r.promptTokens}-token prompt + ` +
      `${CONTEXT - r.promptTokens} sampled tokens; trained models`,
  );
  const t = new Table({
    head: [
      'model (decision rule)',
      'tokens/s',
      `tokens/s, last ${TAIL}`,
      'median ms/token',
      'x dense',
      'processed while decoding (attention / MLP or experts)',
      ...(r.profile ? ['kernels/step', 'host reads/step'] : []),
    ],
    ...style,
  });
  for (const row of r.rows) {
    const v = r.best[row.name]!;
    const processed = Object.entries(v.processed)
      .map(
        ([i, p]) => `#${i}: ${(100 * p.attended).toFixed(1)}% / ${(100 * p.computed).toFixed(1)}%`,
      )
      .join(', ');
    const p = r.profiles[row.name];
    t.push([
      row.name,
      v.tokensPerSec.toFixed(0),
      v.tailTokensPerSec.toFixed(0),
      v.msPerToken.toFixed(2),
      r.denseTps ? (v.tokensPerSec / r.denseTps).toFixed(2) : '-',
      processed || '-',
      ...(p ? [p.kernels.toFixed(0), p.hostReads.toFixed(1)] : []),
    ]);
  }
  console.log(t.toString());
  const a = new Table({
    head: ['model', 'block', 'top-k selects', 'rule', 'selects', 'accuracy', 'precision', 'recall'],
    ...style,
  });
  const l = new Table({
    head: [
      'model',
      'val bits/byte top-k',
      'causal rule',
      'val bits/byte causal',
      'causal / top-k - 1',
    ],
    ...style,
  });
  for (const c of r.contenders) {
    const e = r.evaluations[c.name]!;
    for (const b of e.agreement) {
      for (const rule of ['threshold', 'predictor'] as const) {
        const s = b[rule];
        if (s)
          a.push([
            c.name,
            String(b.block),
            pct(b.topKFraction),
            rule,
            pct(s.selectedFraction),
            pct(s.accuracy),
            pct(s.precision),
            pct(s.recall),
          ]);
      }
    }
    const routed = e.agreement.length > 0;
    const modes = routed
      ? (Object.keys(e.relativeLossIncrease) as DepthRule[]).filter(
          (m) => m !== ('causal' as never),
        )
      : [];
    if (modes.length === 0)
      l.push([c.name, (e.bitsPerByte['top-k'] as number).toFixed(4), '-', '-', '-']);
    for (const m of modes)
      l.push([
        c.name,
        (e.bitsPerByte['top-k'] as number).toFixed(4),
        m,
        (e.bitsPerByte[m] as number).toFixed(4),
        `${((e.relativeLossIncrease[m] as number) * 100).toFixed(2)}%`,
      ]);
  }
  console.log(
    `\ncausal decisions against top-k (${r.evalWindows} validation windows of the training length):`,
  );
  console.log(a.toString());
  console.log('\nvalidation loss by decision rule:');
  console.log(l.toString());
  printTargets(r.targets, style);
  console.log(`\n${r.wallSeconds.toFixed(0)} s in all`);
}

function printTargets(tr: TargetReport, style: object): void {
  const spread = ([lo, hi]: readonly [number, number], f: (x: number) => string) =>
    lo === hi ? f(lo) : `${f(lo)} - ${f(hi)}`;
  console.log(
    `\ntargets over ${tr.retrains} retrain(s) (every routed block of every model): ` +
      `agreement >= ${pct(TARGETS.agreement)}, selected fraction within ` +
      `${(100 * TARGETS.selectionMargin).toFixed(0)} points of top-k's, MoD decode >= ` +
      `${TARGETS.modSpeedup}x dense`,
  );
  const s = new Table({
    head: [
      'variant (rule)',
      'block',
      'agreement (min - max)',
      'selects (min - max)',
      'x dense (min - max)',
    ],
    ...style,
  });
  for (const v of tr.spread)
    s.push([
      v.variant,
      String(v.block),
      spread(v.agreement, pct),
      spread(v.selected, pct),
      v.overDense ? spread(v.overDense, (x) => x.toFixed(2)) : '-',
    ]);
  console.log(s.toString());
  console.log(
    tr.failures.length === 0
      ? 'all targets met'
      : `${tr.failures.length} target(s) failed:\n  ${tr.failures.join('\n  ')}`,
  );
}
