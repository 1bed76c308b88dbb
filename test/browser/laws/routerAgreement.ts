// The router agreement suite of the law page: for random law cases (the router law suite's
// arbitrary), the same router (same seed, so the same weights) on the same inputs routes on cpu
// and on webgl, in evaluation and in training (jitter and gating noise come from seeded draws
// made on the host, identical on both backends), and the two must agree: the same tokens, experts
// and slots (unless the scores hold a near-tie), combine weights, auxiliary losses and the router
// variables' gradients within TOLERANCE, and no tensor left behind on either backend.
// Axis legend: B batch, T tokens, D width, E experts, N assignments.
import { tf, type Scalar, type Tensor, type Tensor3D } from '@moderoute/core';
import { OwnedParameterScope, type Router, type RoutingPlan } from '@moderoute/routing';
import {
  defaultContext,
  randomTensor,
  routerLawCases,
  type RouterLawCase,
} from '@moderoute/testing';
import {
  assertAgreement,
  expertScoreGroups,
  leakChecked,
  nearTieGap,
  sameDecisions,
  type Comparison,
} from './agreement.js';
import type { SuiteCounter } from './report.js';
import type { RouterEntry } from './routerCatalogue.js';

/** One routing plan read back to the host. */
export interface PlanRun {
  readonly decisions: Record<'tokens' | 'experts' | 'slots', number[]>;
  readonly weights: number[];
  readonly losses: Record<string, number>;
  /** Score groups the decisions compare (see nearTieGap). */
  readonly groups: number[][];
}

/** A whole case on one backend: the router's initial variables, its calls and its gradients. */
interface RouterRun {
  readonly variables: number[][];
  readonly calls: Record<string, PlanRun>;
  readonly grads: number[][];
}

/** x float32[B, T, D] and the padding mask of a case (as the router law suite makes them). */
function caseInputs(c: RouterLawCase): { x: Tensor3D; mask?: Tensor } {
  const { batch: b, tokens: t, dModel: d } = c;
  let x = randomTensor([b, t, d], c.inputSeed) as Tensor3D;
  if (c.duplicateTokens) {
    const rows = Array.from({ length: t }, (_, i) => (i % 2 === 0 || t === 1 ? 0 : 1));
    x = tf.gather(x, tf.tensor1d(rows, 'int32'), 1) as Tensor3D;
  }
  if (!c.masked) return { x };
  const valid = new Float32Array(b * t);
  let state = c.inputSeed + 1;
  for (let i = 0; i < b * t; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    valid[i] = state % 3 === 0 ? 0 : 1;
  }
  for (let row = 0; row < b; row++) valid[row * t + ((c.inputSeed + row) % t)] = 1;
  return { x, mask: tf.tensor2d(valid, [b, t]) };
}

/** A plan read back to the host: its decisions, weights, losses and score groups. */
export function readPlanRun(plan: RoutingPlan): PlanRun {
  const tokens = Array.from(plan.tokenIndex.dataSync());
  const weights = Array.from(plan.combineWeights.dataSync());
  const losses = Object.fromEntries(
    Object.entries(plan.auxLosses).map(([k, v]) => [k, v.dataSync()[0] as number]),
  );
  if (plan.kind === 'mixture-of-depths') {
    const groups = plan.routerLogits.arraySync();
    if (plan.predictorLogits) groups.push(...plan.predictorLogits.arraySync());
    return { decisions: { tokens, experts: [], slots: [] }, weights, losses, groups };
  }
  const scores = [plan.routerLogits, plan.routerProbs].filter((s) => s !== undefined);
  return {
    decisions: {
      tokens,
      experts: Array.from(plan.expertIndex.dataSync()),
      slots: Array.from(plan.slotIndex.dataSync()),
    },
    weights,
    losses,
    groups: scores.flatMap((s) => expertScoreGroups(s.arraySync())),
  };
}

/** Runs case `c` on the active backend; throws if it leaves a tensor behind. */
function runRouter(entry: RouterEntry, c: RouterLawCase): RouterRun {
  const scope = new OwnedParameterScope();
  let made: Router | undefined;
  const cleanup = () => {
    made?.dispose();
    scope.dispose();
  };
  return leakChecked(() => {
    const router = (made = entry.make(c, scope));
    const variables = scope.trainable().map((v) => Array.from(v.dataSync()));
    const calls: Record<string, PlanRun> = {};
    tf.tidy(() => {
      const { x, mask } = caseInputs(c);
      for (const training of [false, true]) {
        const plan = router.route(
          x,
          defaultContext(router, { training, ...(mask ? { mask } : {}) }),
        );
        calls[training ? 'training' : 'evaluation'] = readPlanRun(plan);
      }
    });
    const grads = tf.tidy(() => {
      const { x } = caseInputs({ ...c, masked: false });
      const vars = scope.trainable();
      if (vars.length === 0) return [];
      const { grads: byName } = tf.variableGrads(() => {
        const plan = router.route(x, defaultContext(router, { training: true }));
        const n = plan.combineWeights.shape[0];
        const cot = tf.add(tf.mod(tf.range(0, n, 1, 'float32'), 3), 1);
        // One zero more: tfjs 4.22's webgl Sum throws on an empty input (it reshapes it to
        // [-1, 0]), and a plan without assignments (capacity 0) has empty weights.
        let loss = tf.sum(tf.concat([tf.mul(plan.combineWeights, cot), tf.zeros([1])]));
        for (const aux of Object.values(plan.auxLosses)) loss = tf.add(loss, aux);
        return loss as Scalar;
      }, vars);
      return vars.map((v) => Array.from(byName[v.name]?.dataSync() ?? []));
    });
    return { variables, calls, grads };
  }, cleanup);
}

/**
 * Compares a plan's webgl run with its cpu run in `cmp`: its decisions, then (when they are the
 * same) its combine weights and auxiliary losses. Returns false when decisions differed at a
 * near-tie in the scores (the plan's numbers are then not comparable).
 */
export function comparePlans(
  cmp: Comparison,
  label: string,
  cpu: PlanRun,
  webgl: PlanRun,
): boolean {
  const differing = (['tokens', 'experts', 'slots'] as const).filter(
    (key) => !sameDecisions(cpu.decisions[key], webgl.decisions[key]),
  );
  if (differing.length > 0) {
    if (nearTieGap(cpu.groups, webgl.groups) < Infinity) return false;
    for (const key of differing)
      cmp.mismatch(
        `${label}: ${key} differ with no near-tie in the scores: cpu ` +
          `${JSON.stringify(cpu.decisions[key])}, webgl ${JSON.stringify(webgl.decisions[key])}`,
      );
    return true;
  }
  cmp.values(`${label} combine weights`, cpu.weights, webgl.weights);
  for (const [name, value] of Object.entries(cpu.losses))
    cmp.values(`${label} loss ${name}`, [value], [webgl.losses[name] ?? NaN]);
  return true;
}

/** Compares the two runs of a case; returns false when decisions differed at a near-tie. */
function compareRuns(cmp: Comparison, cpu: RouterRun, webgl: RouterRun): boolean {
  cpu.variables.forEach((v, i) => {
    if (!sameDecisions(v, webgl.variables[i] ?? []))
      cmp.mismatch(`router variable ${i} was initialised differently on webgl`);
  });
  let comparable = true;
  for (const [label, c] of Object.entries(cpu.calls))
    comparable = comparePlans(cmp, label, c, webgl.calls[label]!) && comparable;
  if (comparable)
    cpu.grads.forEach((grad, i) => cmp.values(`gradient of variable ${i}`, grad, webgl.grads[i]!));
  return comparable;
}

/** Declares the agreement test of `entry` (inside the caller's describe). */
export function routerAgreement(entry: RouterEntry, counter: SuiteCounter, numRuns: number): void {
  it('should route as on cpu: same decisions, weights, losses and gradients', () =>
    assertAgreement(counter, routerLawCases(), (c) => runRouter(entry, c), compareRuns, numRuns));
}
