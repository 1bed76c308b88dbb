// The models the bench measures: given checkpoints, or the default variants trained here (or
// found in the checkpoint cache under --runs).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createContainer, MODEL_IDS } from '@moderoute/model';
import { CorpusCache, Trainer, restoreModel, type TrainConfig } from '@moderoute/train';
import {
  CACHE_VERSION,
  CONTEXT,
  DECODE_VARIANTS,
  VARIANT_CACHE_SALT,
  trainSettings,
  type Contender,
} from './config.js';
import type { DecodeOptions } from './options.js';

function configHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 10);
}

/** Trains (or finds in the cache) one default variant; returns its run directory. */
async function trainedRun(
  name: string,
  seed: number,
  settings: Omit<TrainConfig, 'model'>,
  runsDir: string,
  retrain: boolean,
  corpusCache: CorpusCache,
  log: (s: string) => void,
): Promise<{ dir: string; seconds?: number }> {
  // Seed 0 keeps the variant's config as it was (and so its cache directory).
  const config: TrainConfig = {
    ...settings,
    model: seed === 0 ? DECODE_VARIANTS[name]! : { ...DECODE_VARIANTS[name]!, seed },
  };
  // The version salt keeps checkpoints trained before the Trainer calibrated the causal cuts
  // out of use.
  const salt = VARIANT_CACHE_SALT[name];
  const key = salt === undefined ? [config, CACHE_VERSION] : [config, CACHE_VERSION, salt];
  const dir = join(runsDir, `${name}-${configHash(key)}`);
  name = seed === 0 ? name : `${name}@${seed}`;
  const done = join(dir, 'bench-done.json');
  if (!retrain && existsSync(done)) {
    const summary = JSON.parse(readFileSync(done, 'utf8')) as {
      wallSeconds: number;
      finalValidationBitsPerByte: number;
    };
    log(
      `  ${name}: cached ${dir} (trained in ${summary.wallSeconds.toFixed(0)} s, val ` +
        `${summary.finalValidationBitsPerByte.toFixed(3)} bits/byte)`,
    );
    return { dir, seconds: summary.wallSeconds };
  }
  if (retrain) rmSync(dir, { recursive: true, force: true });
  log(
    `  ${name}: training ${settings.steps} steps of ${settings.batchSize} x ${settings.seqLen} tokens -> ${dir}`,
  );
  const result = await new Trainer(config).run({
    outDir: dir,
    resume: true,
    corpusCache,
    onStep: (e) => {
      if (e.step % 50 === 0)
        log(
          `    step ${e.step}/${e.totalSteps} loss ${e.lmLoss.toFixed(3)} routed ` +
            `${e.routing.map((r) => r.routedFraction.toFixed(3)).join(' ')}`,
        );
    },
  });
  if (result.stopReason !== 'completed')
    throw new Error(`training ${name} stopped: ${result.message ?? result.stopReason}`);
  writeFileSync(
    done,
    JSON.stringify({
      wallSeconds: result.wallSeconds,
      finalValidationBitsPerByte: result.finalValidationBitsPerByte,
      step: result.step,
      trainingFlops: result.trainingFlops,
    }),
  );
  log(
    `  ${name}: trained in ${result.wallSeconds.toFixed(0)} s, val ` +
      `${result.finalValidationBitsPerByte?.toFixed(3)} bits/byte`,
  );
  return { dir, seconds: result.wallSeconds };
}

/**
 * Pushes the models to measure onto `contenders` (which the caller disposes, also when a later
 * model fails to load): each --checkpoint, or the default variants once per seed.
 */
export async function loadContenders(
  contenders: Contender[],
  options: DecodeOptions,
  corpusCache: CorpusCache,
  log: (s: string) => void,
): Promise<void> {
  const { steps, seeds } = options;
  if (options.checkpoint.length > 0) {
    for (const spec of options.checkpoint) {
      const eq = spec.indexOf('=');
      const [name, dir] = eq > 0 ? [spec.slice(0, eq), spec.slice(eq + 1)] : [spec, spec];
      const { model, checkpoint } = restoreModel(
        dir,
        createContainer().get(MODEL_IDS.ModelFactory),
      );
      const seqLen = ((checkpoint.config as { seqLen?: number } | null)?.seqLen ??
        model.config.contextLength) as number;
      contenders.push({ name, model, seqLen, source: checkpoint.dir });
      if (model.config.contextLength < CONTEXT)
        throw new Error(
          `--checkpoint ${spec}: contextLength ${model.config.contextLength} < ${CONTEXT}`,
        );
    }
    return;
  }
  const names = options.variants.split(',').filter((s) => s.length > 0);
  for (const n of names)
    if (DECODE_VARIANTS[n] === undefined)
      throw new Error(
        `--variants: unknown ${n} (known: ${Object.keys(DECODE_VARIANTS).join(', ')})`,
      );
  log(
    `models: ${names.join(', ')} at the bench config, ${steps} steps of 2 x ` +
      `${CONTEXT} tokens each, seeds ${seeds.join(', ')} (cached under ${options.runs})`,
  );
  for (const seed of seeds) {
    const settings = trainSettings(steps, seed);
    for (const n of names) {
      // Dense is the speed baseline: one training run (seed 0) serves every retrain.
      if (n === 'dense' && seed !== seeds[0]) continue;
      const runSeed = n === 'dense' ? 0 : seed;
      const { dir, seconds } = await trainedRun(
        n,
        runSeed,
        trainSettings(steps, runSeed),
        options.runs,
        options.retrain,
        corpusCache,
        log,
      );
      const name = runSeed === 0 ? n : `${n}@${runSeed}`;
      contenders.push({
        name,
        model: restoreModel(dir, createContainer().get(MODEL_IDS.ModelFactory)).model,
        seqLen: settings.seqLen as number,
        source: dir,
        ...(seconds !== undefined ? { trainSeconds: seconds } : {}),
      });
    }
  }
}
