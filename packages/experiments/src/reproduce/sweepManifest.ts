// A sweep shard's directory: <dir>/shard.json says which sweep (its spec and fingerprint) and
// which shard of it the directory holds, which runs are the shard's, the backends that trained
// them and whether every one of them finished; each run lives in <dir>/runs/<name>/ (run.json
// with its row, checkpoints, metrics). An unsharded sweep is shard 0/1.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ResumeError, writeFileAtomic } from '@moderoute/train';
import type { ReproductionRow } from './report.js';
import type { ShardSpec } from './shard.js';
import type { FinalValidation } from './finalValidation.js';
import type { FamilyName } from './families.js';
import type { ResolvedSweepSpec } from './sweepSpec.js';

/** The manifest's file name in a shard's directory. */
export const SHARD_FILE = 'shard.json';

/** shard.json. */
export interface ShardManifest {
  readonly format: 'moderoute-sweep-shard';
  readonly version: 1;
  readonly sweep: string;
  readonly fingerprint: string;
  readonly shard: ShardSpec;
  /** Runs in the whole sweep. */
  readonly totalRuns: number;
  /** This shard's runs, in the order it trains them. */
  readonly runs: readonly { readonly name: string; readonly order: number }[];
  /** Backends that trained this shard's runs, over every session (e.g. ["wasm"]). */
  readonly backends: readonly string[];
  /** 'complete' once every run of the shard finished. */
  readonly status: 'partial' | 'complete';
  readonly spec: ResolvedSweepSpec;
}

/** A sweep run's row: the comparison's row plus where it sits in the sweep. */
export interface SweepRow extends ReproductionRow {
  readonly sweep: {
    readonly order: number;
    readonly budget: number;
    readonly family: FamilyName;
    readonly width: number;
    readonly numLayers: number;
    readonly numHeads: number;
    readonly seed: number;
  };
  /** The backend that trained the run (its last session). */
  readonly backend: string;
  readonly finalEval: FinalValidation;
}

/** The manifest in `dir`, undefined when there is none; throws on a damaged one. */
export function readManifest(dir: string): ShardManifest | undefined {
  const path = join(dir, SHARD_FILE);
  if (!existsSync(path)) return undefined;
  let value: Partial<ShardManifest>;
  try {
    value = JSON.parse(readFileSync(path, 'utf8')) as Partial<ShardManifest>;
  } catch (error) {
    throw new ResumeError(
      `${path} is not valid JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (value?.format !== 'moderoute-sweep-shard' || value.version !== 1)
    throw new ResumeError(`${path} is not a moderoute sweep shard manifest (format, version)`);
  return value as ShardManifest;
}

/** Writes `dir`/shard.json atomically. */
export function writeManifest(dir: string, manifest: Omit<ShardManifest, 'format' | 'version'>) {
  const full: ShardManifest = { format: 'moderoute-sweep-shard', version: 1, ...manifest };
  writeFileAtomic(join(dir, SHARD_FILE), `${JSON.stringify(full, null, 2)}\n`);
}

/** "shard 1/4 of sweep \"sweep\" (sha256:...)". */
export const describeShard = (m: Pick<ShardManifest, 'shard' | 'sweep' | 'fingerprint'>) =>
  `shard ${m.shard.index}/${m.shard.count} of sweep "${m.sweep}" (${m.fingerprint})`;
