// `pnpm bench:decode`: decoding with the KV cache and causal routing, for TRAINED dense, MoD and
// MoDE models at the bench config with a 512-token context, side by side in one run:
//   - decode tokens/s (generate(), batch 1: a validation-text prompt, then sampled tokens until
//     the context holds 512), and the fraction of tokens each routed block processed meanwhile;
//   - agreement of the causal decisions with top-k per routed block (accuracy, precision,
//     recall) and validation bits/byte with causal versus top-k decisions
//     (evaluateCausalRouting, Raposo et al. 2024, section 3.5);
//   - with --profile, kernels and host reads per decode step (context 256).
//
//   pnpm bench:decode [--backend wasm] [--reps N] [--json] [--profile]
//                     [--checkpoint NAME=DIR ...] [--steps N] [--retrain] [--runs DIR] [--seeds 0,1,2]
//
// Targets (docs/sampling.md), checked for every routed block of every model and retrain: the causal rule
// agrees with top-k >= 97% and selects within 2 points of top-k's fraction (never zero), and MoD
// decodes >= 1.5x dense; each miss is a FAILED TARGET line, the spread over seeds a table.
//
// Models: each `--checkpoint NAME=DIR` (a run or checkpoint directory; its model must have
// contextLength >= 512), or by default four models the bench trains itself with the Trainer at
// the bench config (vocabulary 256, width 128, 4 layers, 4 heads, MLP 4x, contextLength 512) on
// the embedded corpus, the same data, seed, steps and schedule for each (with --seeds, the routed
// models once per seed: the seed of the model's initialisation and of the data order):
//   dense; mod (12.5% capacity every other block, threshold rule: the router's BCE, coefficient
//   1e-2, the default, and the cut the Trainer calibrates at save); mod_predictor (the same with
// causalMode 'predictor': a predictor regressing r, with a linear path, decides);
//   staged_mode (the mod stage, then 4 experts top-1 dropless).
// Trained checkpoints are cached under runs/bench-decode/<variant>-<config hash> (gitignored):
// a re-run with the same settings skips training (--retrain forces it).
//
// The pieces live under bench/decode/: config (the models, training run, cache salts, targets),
// options (flags), models (training and caching), measure (decode runs, profiles), targets
// (the targets check) and print (the tables).
import { describeBackend, initBackend } from '@moderoute/core';
import { evaluateCausalRouting, type CausalEvaluation } from '@moderoute/model';
import { CorpusCache, validationStarts } from '@moderoute/train';
import { BENCH, CONTEXT, TAIL, trainSettings, type Contender } from './decode/config.js';
import {
  decodeRows,
  decodeRun,
  profileSteps,
  type DecodeResult,
  type StepProfile,
} from './decode/measure.js';
import { loadContenders } from './decode/models.js';
import { parseDecodeOptions } from './decode/options.js';
import { printTables } from './decode/print.js';
import { targetReport } from './decode/targets.js';

export { DECODE_VARIANTS } from './decode/config.js';

async function main(): Promise<void> {
  const options = parseDecodeOptions(process.argv.slice(2));
  if (options === undefined) return;
  const { reps, steps, evalWindows, promptTokens, seeds } = options;
  const info = await initBackend({ backend: options.backend });
  const log = (s: string) => options.json || console.error(s);
  const corpusCache = new CorpusCache();
  const { validation } = corpusCache.load({ kind: 'sotu' }, { seqLen: CONTEXT });
  const wallStart = performance.now();

  // 1. The models: given checkpoints, or the default variants trained (or cached) here.
  const contenders: Contender[] = [];
  try {
    await loadContenders(contenders, options, corpusCache, log);

    // 2. Causal decisions against top-k, and the validation loss under each rule.
    const evaluations: Record<string, CausalEvaluation> = {};
    for (const c of contenders) {
      const windows = validationStarts(validation.length, {
        batchSize: 1,
        seqLen: c.seqLen,
        maxWindows: evalWindows,
      }).map((s) => validation.subarray(s, s + c.seqLen + 1));
      log(`evaluating ${c.name} on ${windows.length} validation windows of ${c.seqLen} tokens ...`);
      evaluations[c.name] = evaluateCausalRouting(c.model, windows, { batchSize: 4 });
    }

    // 3. Decode speed, the models interleaved run by run (one warm-up run each first).
    const prompt = Array.from(validation.subarray(0, promptTokens));
    const rows = contenders.flatMap((c) => decodeRows(c).map((r) => ({ ...r, model: c.model })));
    log(
      `decoding: ${promptTokens}-token prompt + ${CONTEXT - promptTokens} sampled ` +
        `tokens (context up to ${CONTEXT}), ${reps} run(s) per model on ` +
        `${describeBackend(info)} ...`,
    );
    for (const r of rows) await decodeRun(r.model, prompt, r.mode);
    const best: Record<string, DecodeResult> = {};
    for (let rep = 0; rep < reps; rep++) {
      for (const r of rows) {
        const result = await decodeRun(r.model, prompt, r.mode);
        if (best[r.name] === undefined || result.tokensPerSec > best[r.name]!.tokensPerSec)
          best[r.name] = result;
        log(`  ${r.name} run ${rep + 1}: ${result.tokensPerSec.toFixed(0)} tokens/s`);
      }
    }
    const profiles: Record<string, StepProfile> = {};
    if (options.profile)
      for (const r of rows)
        profiles[r.name] = await profileSteps(
          r.model,
          prompt.length >= CONTEXT / 2 ? prompt : Array.from(validation.subarray(0, CONTEXT / 2)),
          r.mode,
        );

    const denseRow = rows.find((r) => !r.model.blocks.some((b) => b.kind !== 'dense'));
    const denseTps = denseRow ? best[denseRow.name]!.tokensPerSec : undefined;
    const report = {
      info: describeBackend(info),
      config: {
        ...BENCH,
        promptTokens,
        decodedTokens: CONTEXT - promptTokens,
        tailSteps: TAIL,
        sampling: 'temperature 0.8, top-k 40, seed 1',
        training: options.checkpoint.length > 0 ? 'checkpoints' : trainSettings(steps),
        seeds,
        evalWindows,
      },
      models: Object.fromEntries(
        contenders.map((c) => [
          c.name,
          { source: c.source, trainSeconds: c.trainSeconds, parameters: c.model.parameterCount() },
        ]),
      ),
      decode: Object.fromEntries(
        rows.map((r) => [
          r.name,
          {
            ...best[r.name]!,
            overDense: denseTps ? best[r.name]!.tokensPerSec / denseTps : undefined,
            ...(profiles[r.name] ? { profile: profiles[r.name] } : {}),
          },
        ]),
      ),
      evaluation: evaluations,
      targets: targetReport(contenders, evaluations, rows, best, denseTps),
      wallSeconds: (performance.now() - wallStart) / 1000,
    };
    for (const w of report.targets.failures) console.error(`FAILED TARGET: ${w}`);
    if (options.json) {
      console.log(JSON.stringify(report));
      return;
    }
    printTables({
      info: report.info,
      promptTokens,
      evalWindows,
      profile: options.profile,
      contenders,
      rows,
      best,
      profiles,
      denseTps,
      evaluations,
      targets: report.targets,
      wallSeconds: report.wallSeconds,
    });
  } finally {
    for (const c of contenders) c.model.dispose();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
