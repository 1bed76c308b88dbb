// What an evaluation shows, from the library's own measurements: validation bits per byte and
// the causal rules' agreement with top-k per MoD block (evaluateDuringTraining, as the CLI's
// training run logs them), and which tokens each routed block processed on a fixed validation
// window (routingPattern, as `moderoute sample --show-routing` draws them). Axis legend: T tokens.
import { tf, type Tensor2D } from '@moderoute/core';
import {
  bitsPerByte,
  calibrateCausalRouting,
  evaluateCausalRouting,
  hasCalibratableRouting,
  type LanguageModel,
} from '@moderoute/model';
import {
  calibrationWindows,
  encodeBytes,
  routingPattern,
  validationWindows,
} from '@moderoute/train';
import type { Agreement, Heatmap, Snapshot } from './protocol.js';
import type { Session } from './session.js';
import { blockRouterNames } from './routers.js';

/** Validation windows evaluated per snapshot (evenly spaced over the validation text). */
const EVAL_WINDOWS = 8;

/** Tokens each routed block's plan selected on `ids` (top-k): MoD's count, else assigned tokens. */
function selectedCounts(model: LanguageModel, ids: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  tf.tidy(() => {
    const input = tf.tensor2d(Int32Array.from(ids), [1, ids.length], 'int32') as Tensor2D;
    model.forward(input).routing.forEach((plans, block) => {
      const plan = plans['mod'] ?? plans['experts'];
      if (plan === undefined) return;
      // MoD: the plan's own count of selected tokens; experts: distinct tokens of int32[N].
      const selected =
        plan.kind === 'mixture-of-depths'
          ? (plan.counts.load[0] ?? 0)
          : new Set(plan.tokenIndex.dataSync()).size;
      counts.set(block, selected);
    });
  });
  return counts;
}

/** Evaluates `session`'s model at its current step. */
export function snapshot(session: Session): Snapshot {
  const { model } = session;
  const seqLen = model.config.contextLength;
  const batchSize = session.settings.batchSize;
  const validation = encodeBytes(session.validation);
  const windows =
    validation.length > seqLen
      ? validationWindows(validation, { batchSize, seqLen, maxWindows: EVAL_WINDOWS })
      : [];
  let validationBits = Number.NaN;
  let agreement: Agreement[] = [];
  if (windows.length > 0 && hasCalibratableRouting(model) && session.train.length > seqLen) {
    calibrateCausalRouting(model, calibrationWindows(model, session.train, { batchSize, seqLen }), {
      batchSize,
    });
    const evaluation = evaluateCausalRouting(model, windows, { batchSize, modes: ['top-k'] });
    validationBits = evaluation.bitsPerByte['top-k'] ?? Number.NaN;
    agreement = evaluation.agreement.map((a) => ({
      block: a.block,
      topKFraction: a.topKFraction,
      rules: (['threshold', 'predictor'] as const).flatMap((rule) => {
        const r = a[rule];
        return r === undefined
          ? []
          : [{ rule, accuracy: r.accuracy, precision: r.precision, recall: r.recall }];
      }),
    }));
  } else if (windows.length > 0) {
    validationBits = bitsPerByte(model, windows, { batchSize });
  }
  const text = session.validation.slice(0, seqLen);
  const pattern = routingPattern(model, text, 'top-k');
  const ids = Array.from(encodeBytes(text).slice(0, seqLen));
  const counts = selectedCounts(model, ids);
  const routed = model.config.blocks
    .map((b, i) => ({ b, i }))
    .filter(({ b }) => b.depthRouter !== null || b.expertRouter !== null);
  const heatmaps: Heatmap[] = pattern.processed.map((processed, n) => ({
    block: routed[n]!.i,
    label: `block ${routed[n]!.i} (${routed[n]!.b.kind}: ${blockRouterNames(routed[n]!.b).join(', ')})`,
    processed,
    selected: counts.get(routed[n]!.i) ?? 0,
  }));
  return { step: session.step, validationBits, tokens: pattern.tokens, heatmaps, agreement };
}
