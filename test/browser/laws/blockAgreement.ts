// The block agreement suite of the law page: for random batches, lengths and inputs, the same
// block (made by the same catalogue entry, so with the same parameters) runs forward on cpu and on
// webgl under top-k in training and in evaluation and under each causal rule it decodes with, and
// the two must
// agree: the same routing decisions in every stage (unless the scores hold a near-tie), outputs and
// auxiliary losses, and the gradients of every parameter within TOLERANCE; no tensor left behind.
// Axis legend: B batch, T tokens, D width.
import fc from 'fast-check';
import { tf, type Scalar, type Tensor, type Tensor3D } from '@moderoute/core';
import type { BlockForwardOptions } from '@moderoute/blocks';
import { randomTensor } from '@moderoute/testing';
import { assertAgreement, leakChecked, sameDecisions, type Comparison } from './agreement.js';
import type { BlockEntry } from './blockCatalogue.js';
import type { SuiteCounter } from './report.js';
import { comparePlans, readPlanRun, type PlanRun } from './routerAgreement.js';

/** A block case: B, T and the input seed. */
interface BlockCase {
  readonly batch: number;
  readonly seqLen: number;
  readonly seed: number;
}

/** One forward call read back to the host. */
interface ForwardRun {
  readonly output: number[];
  readonly losses: Record<string, number>;
  readonly plans: Record<string, PlanRun>;
}

/** A case on one backend: parameters, each mode's forward and the parameters' gradients. */
interface BlockRun {
  readonly parameters: Record<string, number[]>;
  readonly forwards: Record<string, ForwardRun>;
  readonly grads: Record<string, number[]>;
}

function modes(entry: BlockEntry, seqLen: number): [string, BlockForwardOptions][] {
  return [
    ['top-k, training', { training: true }],
    ['top-k, evaluation', { training: false }],
    ...(entry.options.causalModes ?? []).map((mode): [string, BlockForwardOptions] => [
      `${mode}, evaluation`,
      { training: false, mode, capacityLength: seqLen },
    ]),
  ];
}

function runBlock(entry: BlockEntry, c: BlockCase): BlockRun {
  let made: ReturnType<BlockEntry['make']> | undefined;
  return leakChecked(
    () => {
      const built = (made = entry.make());
      const width = entry.options.width;
      const parameters = Object.fromEntries(
        [...built.store.named()].map(([name, v]) => [name, Array.from(v.dataSync())]),
      );
      const x = randomTensor([c.batch, c.seqLen, width], c.seed) as Tensor3D;
      const forwards: Record<string, ForwardRun> = {};
      for (const [label, options] of modes(entry, c.seqLen)) {
        tf.tidy(() => {
          const out = built.block.forward(x, options);
          forwards[label] = {
            output: Array.from(out.output.dataSync()),
            losses: Object.fromEntries(
              Object.entries(out.auxLosses).map(([k, v]) => [k, v.dataSync()[0] as number]),
            ),
            plans: Object.fromEntries(
              Object.entries(out.routing ?? {}).map(([stage, plan]) => [stage, readPlanRun(plan)]),
            ),
          };
        });
      }
      const grads = tf.tidy(() => {
        const vars = built.store.trainable();
        const cot = randomTensor([c.batch, c.seqLen, width], c.seed + 1);
        const { grads: byName } = tf.variableGrads(() => {
          const out = built.block.forward(x, { training: true });
          const aux = Object.values(out.auxLosses).reduce<Tensor>(
            (a, l) => tf.add(a, l),
            tf.scalar(0),
          );
          return tf.add(tf.sum(tf.mul(out.output, cot)), aux) as Scalar;
        }, vars);
        const names = new Map([...built.store.named()].map(([name, v]) => [v.name, name]));
        return Object.fromEntries(
          Object.entries(byName).map(([v, g]) => [names.get(v) ?? v, Array.from(g.dataSync())]),
        );
      });
      x.dispose();
      return { parameters, forwards, grads };
    },
    () => made?.dispose(),
  );
}

/** Compares the two runs of a case; returns false when decisions differed at a near-tie. */
function compareRuns(cmp: Comparison, cpu: BlockRun, webgl: BlockRun): boolean {
  for (const [name, values] of Object.entries(cpu.parameters))
    if (!sameDecisions(values, webgl.parameters[name] ?? []))
      cmp.mismatch(`parameter ${name} was initialised differently on webgl`);
  let comparable = true;
  for (const [label, c] of Object.entries(cpu.forwards)) {
    const g = webgl.forwards[label]!;
    let sameRouting = true;
    for (const [stage, plan] of Object.entries(c.plans))
      sameRouting =
        comparePlans(cmp, `${label}, stage ${stage}`, plan, g.plans[stage]!) && sameRouting;
    comparable &&= sameRouting;
    if (!sameRouting) continue;
    cmp.values(`${label} output`, c.output, g.output);
    for (const [name, value] of Object.entries(c.losses))
      cmp.values(`${label} loss ${name}`, [value], [g.losses[name] ?? NaN]);
  }
  if (comparable)
    for (const [name, grad] of Object.entries(cpu.grads))
      cmp.values(`gradient of ${name}`, grad, webgl.grads[name] ?? []);
  return comparable;
}

/** Declares the agreement test of `entry` (inside the caller's describe). */
export function blockAgreement(entry: BlockEntry, counter: SuiteCounter, numRuns: number): void {
  const cases = fc.record({
    batch: fc.integer({ min: 1, max: 3 }),
    seqLen: fc.integer({ min: 1, max: 12 }),
    seed: fc.nat(1e6),
  });
  it('should compute as on cpu: same routing, outputs, losses and gradients', () =>
    assertAgreement(counter, cases, (c) => runBlock(entry, c), compareRuns, numRuns));
}
