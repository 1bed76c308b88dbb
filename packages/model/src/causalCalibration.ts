// Calibration of the Mixture-of-Depths routers' causal cuts (Raposo et al. 2024, section 3.5):
// each rule's cut set so that, on given token windows, the causal rule selects what top-k selects.
// Axis legend: B windows per batch, T = L - 1 input tokens per window.
import { requireInt, tf } from '@moderoute/core';
import type { BlockKind } from '@moderoute/blocks';
import type { CapacityPolicy, Router } from '@moderoute/routing';
import type { LanguageModel } from './LanguageModel.js';
import {
  batches,
  checkWindows,
  type EvaluationOptions,
  type TokenWindows,
} from './tokenWindows.js';

/** A routed block's causal cuts before and after calibration. */
export interface CutCalibration {
  readonly block: number;
  readonly kind: BlockKind;
  /** The threshold rule's tau: [before, after]. */
  readonly threshold?: readonly [number, number];
  /** The predictor rule's cut: [before, after]. */
  readonly predictor?: readonly [number, number];
}

/**
 * The Mixture-of-Depths stage of each block whose router can calibrate its causal cuts
 * (Router.calibrateCausalCuts), with the block's capacity for it.
 */
function calibratableRouters(
  model: LanguageModel,
): Map<number, { router: Router; capacity: CapacityPolicy }> {
  const routers = new Map<number, { router: Router; capacity: CapacityPolicy }>();
  model.blocks.forEach((block, i) => {
    const stage = block
      .stages()
      .find(
        (s) => s.router.kind === 'mixture-of-depths' && s.router.calibrateCausalCuts !== undefined,
      );
    if (stage !== undefined) routers.set(i, stage);
  });
  return routers;
}

/**
 * The rules' current cuts, read from the router's saved state in the model's store
 * (`blocks.<i>.routers.<r>.threshold`, `....predictor.threshold`).
 */
function cutsOf(
  model: LanguageModel,
  block: number,
  router: Router,
): { threshold?: number; predictor?: number } {
  const r = model.blocks[block]!.routers().indexOf(router);
  const params = model.namedParameters();
  const read = (name: string) =>
    params.get(`blocks.${block}.routers.${r}.${name}`)?.dataSync()[0] as number | undefined;
  const threshold = read('threshold');
  const predictor = read('predictor.threshold');
  return {
    ...(threshold !== undefined ? { threshold } : {}),
    ...(predictor !== undefined ? { predictor } : {}),
  };
}

/** Whether any block's MoD router can calibrate its causal cuts (else calibrateCausalRouting does nothing). */
export function hasCalibratableRouting(model: LanguageModel): boolean {
  return calibratableRouters(model).size > 0;
}

/**
 * Calibrates every MoD router's causal cuts with the model's current weights (Raposo et al. 2024,
 * section 3.5): runs the top-k forward pass over the windows' inputs, pools each routed block's
 * decision values (router logits r; predictor logits) over all their tokens, and sets each rule's
 * cut to the exact quantile at top-k's fraction (Router.calibrateCausalCuts), so that the causal
 * rule selects what top-k selects on these tokens. Later blocks see the top-k pass's inputs, as
 * in training. Use training windows (the Trainer does, before each checkpoint); evaluate on
 * others. Returns the cuts before and after, per calibrated block.
 */
export function calibrateCausalRouting(
  model: LanguageModel,
  windows: TokenWindows,
  options: EvaluationOptions = {},
): CutCalibration[] {
  const t = checkWindows(model, windows);
  const batchSize = requireInt('batchSize', options.batchSize ?? 8, { min: 1 });
  const routers = calibratableRouters(model);
  if (routers.size === 0) return [];
  const samples = new Map<number, { threshold: Float32Array[]; predictor: Float32Array[] }>(
    [...routers.keys()].map((i) => [i, { threshold: [], predictor: [] }]),
  );
  for (const batch of batches(windows, t, batchSize)) {
    tf.tidy(() => {
      model.forward(batch.inputs, { mode: 'top-k' }).routing.forEach((plans, block) => {
        const plan = plans['mod'];
        const sink = samples.get(block);
        if (plan === undefined || plan.kind !== 'mixture-of-depths' || sink === undefined) return;
        sink.threshold.push(plan.routerLogits.dataSync() as Float32Array);
        if (plan.predictorLogits !== undefined)
          sink.predictor.push(plan.predictorLogits.dataSync() as Float32Array);
      });
      tf.dispose([batch.inputs, batch.targets]);
    });
  }
  const concat = (parts: Float32Array[]): Float32Array | undefined => {
    if (parts.length === 0) return undefined;
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  };
  return [...routers.entries()].map(([block, { router, capacity }]) => {
    const before = cutsOf(model, block, router);
    const sink = samples.get(block)!;
    const threshold = concat(sink.threshold);
    const predictor = concat(sink.predictor);
    router.calibrateCausalCuts!({
      seqLen: t,
      capacity,
      ...(threshold ? { threshold } : {}),
      ...(predictor ? { predictor } : {}),
    });
    const after = cutsOf(model, block, router);
    return {
      block,
      kind: model.blocks[block]!.kind,
      ...(before.threshold !== undefined
        ? { threshold: [before.threshold, after.threshold as number] as const }
        : {}),
      ...(before.predictor !== undefined
        ? { predictor: [before.predictor, after.predictor as number] as const }
        : {}),
    };
  });
}
