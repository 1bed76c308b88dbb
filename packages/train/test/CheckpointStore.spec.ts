import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { tf, type Tensor, type Variable } from '@moderoute/core';
import { expectNoLeaksAsync, forEachBackend } from '@moderoute/testing';
import {
  AdamW,
  CHECKPOINT_FILES,
  CheckpointError,
  CheckpointStore,
  assignWeights,
  checkpointName,
  decodeSafetensors,
  encodeSafetensors,
  fromHostTensors,
  setWriteFaults,
  loadCheckpoint,
  shapesOf,
  type CheckpointContents,
} from '../src/index.js';
import { useTempDir } from './helpers.js';

const isError = (problem: string, pattern: RegExp) => (e: unknown) =>
  e instanceof CheckpointError && e.problem === problem && pattern.test(e.message);

/** Snapshot of every file under a folder (name -> bytes), to check that nothing was written. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string, prefix: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${prefix}${e.name}/`);
      else out.set(`${prefix}${e.name}`, readFileSync(join(d, e.name)).toString('base64'));
    }
  };
  walk(dir, '');
  return out;
}

describe('CheckpointStore', () => {
  forEachBackend(() => {
    const tmp = useTempDir();
    let weights: Map<string, Variable>;
    let optimizer: AdamW;
    let n = 0;
    const fresh = () => join(tmp(), `run-${n++}`);

    beforeEach(() => {
      weights = new Map<string, Variable>([
        [
          'embed.weight',
          tf.variable(
            tf.tensor2d([
              [1, 2, 3],
              [4, 5, 6],
            ]),
          ),
        ],
        ['ln.gamma', tf.variable(tf.tensor1d([1, 1, 1]))],
      ]);
      optimizer = new AdamW(weights);
      const g = new Map<string, Tensor>([
        ['embed.weight', tf.onesLike(weights.get('embed.weight') as Variable)],
      ]);
      optimizer.apply(g, 0.1);
      tf.dispose([...g.values()]);
    });
    afterEach(() => {
      optimizer.dispose();
      tf.dispose([...weights.values()]);
    });

    const contents = (step: number): CheckpointContents => ({
      weights,
      optimizer: optimizer.getState(),
      config: { model: { dModel: 3 }, train: { lr: 0.1 } },
      state: {
        step,
        dataPosition: { seed: 1, step, batchSize: 2, seqLen: 4, fingerprint: 'fp' },
        rng: { jitter: 42 },
        metrics: { valBpb: 2.5 },
      },
    });
    const save = async (store: CheckpointStore, step: number) => {
      const c = contents(step);
      try {
        return await store.save(c);
      } finally {
        tf.dispose([...c.optimizer.values()]);
      }
    };

    describe('.save / .load', () => {
      it('should round-trip weights, optimizer state, config and state', async () => {
        const store = new CheckpointStore(fresh());
        const dir = await save(store, 10);
        assert.equal(dir, join(store.root, 'ckpt-00000010'));
        assert.deepEqual(readdirSync(dir).sort(), [
          'MANIFEST.json',
          'config.json',
          'model.safetensors',
          'optimizer.safetensors',
          'state.json',
        ]);
        assert.equal(readFileSync(join(store.root, 'latest'), 'utf8'), 'ckpt-00000010\n');
        const loaded = store.load(undefined, { expectWeights: shapesOf(weights) });
        assert.equal(loaded.step, 10);
        assert.deepEqual(loaded.config, { model: { dModel: 3 }, train: { lr: 0.1 } });
        assert.deepEqual(loaded.state.dataPosition, {
          seed: 1,
          step: 10,
          batchSize: 2,
          seqLen: 4,
          fingerprint: 'fp',
        });
        assert.deepEqual(loaded.weights.get('embed.weight'), {
          dtype: 'F32',
          shape: [2, 3],
          data: Float32Array.from((weights.get('embed.weight') as Variable).dataSync()),
        });
        // The optimizer state restores into a fresh optimizer.
        const other = new AdamW(weights);
        other.setState(loaded.optimizer, 'optimizer.safetensors');
        assert.equal(other.step, 1);
        other.dispose();
      });

      it('should not leak tensors', async () => {
        const store = new CheckpointStore(fresh());
        await expectNoLeaksAsync(async () => {
          await save(store, 1);
          const loaded = store.load();
          const restored = fromHostTensors(loaded.weights);
          assignWeights(weights, loaded.weights);
          tf.dispose([...restored.values()]);
        });
      });

      it('should leave untrained state a checkpoint lacks at its value, but refuse a missing parameter', async () => {
        const store = new CheckpointStore(fresh());
        await save(store, 3);
        const loaded = store.load();
        const buffer = tf.variable(tf.tensor1d([0.5, 2]), false);
        const trained = tf.variable(tf.tensor1d([1, 2]));
        try {
          // A buffer added after the checkpoint was written (the MoD threshold rule's tau).
          assignWeights(
            new Map([...weights, ['blocks.1.routers.0.threshold', buffer]]),
            loaded.weights,
          );
          assert.deepEqual(Array.from(buffer.dataSync()), [0.5, 2]);
          assert.throws(
            () => assignWeights(new Map([...weights, ['head.b', trained]]), loaded.weights),
            isError('mismatch', /head\.b/),
          );
        } finally {
          tf.dispose([buffer, trained]);
        }
      });

      it("should load a checkpoint written before the MoD predictor's linear path with that path at zero", async () => {
        const store = new CheckpointStore(fresh());
        await save(store, 3);
        const loaded = store.load();
        // At zero the predictor is the MLP alone, as older checkpoints trained it.
        const linear = tf.variable(tf.ones([3, 1]));
        try {
          assignWeights(
            new Map([...weights, ['blocks.1.routers.0.predictor.linear', linear]]),
            loaded.weights,
          );
          assert.deepEqual(Array.from(linear.dataSync()), [0, 0, 0]);
        } finally {
          linear.dispose();
        }
      });

      it('should rewrite a checkpoint in place, leaving latest and the others as they are', async () => {
        const store = new CheckpointStore(fresh(), { keep: 2 });
        await save(store, 1);
        await save(store, 2);
        (weights.get('ln.gamma') as Variable).assign(tf.tensor1d([7, 7, 7]));
        const older = store.list()[0]!.dir;
        const contents = { ...store.load(older), weights };
        const { optimizer: hostOptimizer, config, state } = contents;
        const optimizer = fromHostTensors(hostOptimizer);
        try {
          assert.equal(
            await store.save({ weights, optimizer, config, state }, { rewrite: true }),
            older,
          );
          assert.equal(store.latest(), join(store.root, checkpointName(2)));
          assert.deepEqual(
            store.list().map((c) => c.step),
            [1, 2],
          );
          assert.deepEqual(Array.from(store.load(older).weights.get('ln.gamma')!.data), [7, 7, 7]);
          await assert.rejects(
            store.save(
              { weights, optimizer, config, state: { ...state, step: 9 } },
              { rewrite: true },
            ),
            isError('missing', /ckpt-00000009 is not a complete checkpoint to rewrite/),
          );
        } finally {
          tf.dispose([...optimizer.values()]);
        }
      });

      it('should keep the newest N checkpoints and point latest at the newest', async () => {
        const store = new CheckpointStore(fresh(), { keep: 2 });
        for (const step of [1, 2, 3, 4]) await save(store, step);
        assert.deepEqual(
          store.list().map((c) => c.step),
          [3, 4],
        );
        assert.equal(store.latest(), join(store.root, checkpointName(4)));
      });

      it('should replace a checkpoint of the same step', async () => {
        const store = new CheckpointStore(fresh());
        await save(store, 5);
        (weights.get('ln.gamma') as Variable).assign(tf.tensor1d([7, 7, 7]));
        await save(store, 5);
        assert.deepEqual([...(store.load().weights.get('ln.gamma')?.data ?? [])], [7, 7, 7]);
        assert.deepEqual(readdirSync(store.root).sort(), ['ckpt-00000005', 'latest']);
      });
    });

    describe('when a save was interrupted', () => {
      it('should ignore leftover temporary and incomplete directories', async () => {
        const store = new CheckpointStore(fresh());
        await save(store, 1);
        // A crash before the rename leaves a .tmp directory; a directory without a manifest
        // is never a complete checkpoint.
        mkdirSync(join(store.root, 'ckpt-00000002.tmp-1-abcd'));
        writeFileSync(join(store.root, 'ckpt-00000002.tmp-1-abcd', 'model.safetensors'), 'partial');
        mkdirSync(join(store.root, 'ckpt-00000003'));
        assert.deepEqual(
          store.list().map((c) => c.step),
          [1],
        );
        assert.equal(store.load().step, 1);
        assert.throws(
          () => loadCheckpoint(join(store.root, 'ckpt-00000003')),
          isError('truncated', /MANIFEST\.json is missing: the checkpoint is incomplete/),
        );
      });

      it('should fall back to the newest complete checkpoint when latest is missing or dangling', async () => {
        const store = new CheckpointStore(fresh());
        await save(store, 1);
        await save(store, 2);
        writeFileSync(join(store.root, 'latest'), 'ckpt-00000009\n');
        assert.equal(store.load().step, 2);
      });

      it('should leave the previous checkpoint intact when saving fails', async () => {
        const store = new CheckpointStore(fresh());
        await save(store, 1);
        const before = snapshot(store.root);
        const bad = contents(2);
        const withBadName = {
          ...bad,
          weights: new Map<string, Tensor>([['__metadata__', tf.zeros([1])]]),
        };
        await assert.rejects(
          store.save(withBadName),
          isError('unsupported', /cannot hold a tensor named "__metadata__"/),
        );
        tf.dispose([...bad.optimizer.values(), ...withBadName.weights.values()]);
        assert.deepEqual(snapshot(store.root), before);
      });
    });

    describe('when a disk write fails', () => {
      afterEach(() => setWriteFaults());

      it('should say the disk is full, how much the checkpoint needs, and keep the last good one', async () => {
        const store = new CheckpointStore(fresh());
        const good = await save(store, 1);
        const before = snapshot(store.root);
        setWriteFaults({ fail: { match: 'optimizer.safetensors', code: 'ENOSPC' } });
        await assert.rejects(
          save(store, 2),
          isError(
            'unwritable',
            new RegExp(
              `ckpt-00000002\\.tmp-[^ ]*/optimizer\\.safetensors cannot be written: no space ` +
                `left on the device \\(ENOSPC\\); the checkpoint needs [\\d.]+ (bytes|KiB)(, [\\d.]+ \\w+ ` +
                `free)?; the last good checkpoint ${good.replace(/[.]/g, '\\.')} is kept; free ` +
                `some space`,
            ),
          ),
        );
        assert.deepEqual(snapshot(store.root), before);
        setWriteFaults();
        assert.equal(store.load().step, 1);
      });

      it('should say so when the first checkpoint cannot be written, or the directory is not writable', async () => {
        const store = new CheckpointStore(fresh());
        setWriteFaults({ fail: { match: 'model.safetensors', code: 'ENOSPC' } });
        await assert.rejects(
          save(store, 1),
          isError(
            'unwritable',
            /\(ENOSPC\); the checkpoint needs [\d.]+ (bytes|KiB).*; no earlier checkpoint exists/,
          ),
        );
        setWriteFaults({ fail: { match: 'MANIFEST', code: 'EACCES' } });
        await assert.rejects(
          save(store, 1),
          isError(
            'unwritable',
            new RegExp(
              'MANIFEST\\.json cannot be written: permission denied ' +
                '\\(EACCES\\).*make .* writable, or use another run directory',
            ),
          ),
        );
        assert.deepEqual(readdirSync(store.root), []);
      });
    });

    describe('.removeLeftovers', () => {
      it(
        "should remove dead writers' temporaries, restore a checkpoint moved aside, and " +
          "spare a live writer's",
        async () => {
          const store = new CheckpointStore(fresh());
          await save(store, 1);
          await save(store, 2);
          const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
            stdio: 'ignore',
          });
          try {
            const dead = 2 ** 22 + 17; // above Linux's default pid_max (4194304 is the largest possible)
            for (const name of [
              `ckpt-00000003.tmp-${dead}-abcd`,
              `ckpt-00000004.tmp-${live.pid}-abcd`,
              `ckpt-00000005.tmp-${process.pid}-ab12`,
            ]) {
              mkdirSync(join(store.root, name));
              writeFileSync(join(store.root, name, 'model.safetensors'), 'partial');
            }
            writeFileSync(join(store.root, `latest.tmp-${dead}-0f0f`), 'ckpt-00000003\n');
            // Killed between "move the old step 2 aside" and "rename the new one in".
            renameSync(
              join(store.root, 'ckpt-00000002'),
              join(store.root, 'ckpt-00000002.replaced-beef'),
            );
            assert.deepEqual(store.removeLeftovers().sort(), [
              `ckpt-00000002.replaced-beef`,
              `ckpt-00000003.tmp-${dead}-abcd`,
              `ckpt-00000005.tmp-${process.pid}-ab12`,
              `latest.tmp-${dead}-0f0f`,
            ]);
            assert.deepEqual(readdirSync(store.root).sort(), [
              'ckpt-00000001',
              'ckpt-00000002',
              `ckpt-00000004.tmp-${live.pid}-abcd`,
              'latest',
            ]);
            assert.equal(store.load().step, 2);
          } finally {
            live.kill('SIGKILL');
          }
        },
      );
    });

    describe('when a checkpoint is damaged', () => {
      const damaged = async (damage: (dir: string) => void) => {
        const store = new CheckpointStore(fresh());
        const dir = await save(store, 3);
        damage(dir);
        return { store, dir, before: snapshot(store.root) };
      };

      it('should name a truncated file and overwrite nothing', async () => {
        const { store, dir, before } = await damaged((d) => {
          const p = join(d, CHECKPOINT_FILES.model);
          writeFileSync(p, readFileSync(p).subarray(0, 40));
        });
        assert.throws(
          () => store.load(),
          isError(
            'truncated',
            new RegExp(
              `${join(dir, 'model.safetensors').replace(/[.]/g, '\\.')} is truncated: 40 bytes, the manifest says \\d+`,
            ),
          ),
        );
        assert.deepEqual(snapshot(store.root), before);
      });

      it('should refuse NaN or infinite weights behind a matching manifest, naming the tensor', async () => {
        for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
          const { store } = await damaged((d) => {
            const p = join(d, CHECKPOINT_FILES.model);
            const file = decodeSafetensors(new Uint8Array(readFileSync(p)));
            const ln = file.tensors.get('ln.gamma')!;
            const data = Float32Array.from(ln.data as Float32Array);
            data[1] = bad;
            file.tensors.set('ln.gamma', { ...ln, data });
            const bytes = encodeSafetensors(file.tensors, file.metadata);
            writeFileSync(p, bytes);
            // Rewrite the manifest to match, as a writer of non-finite weights would have.
            const mp = join(d, CHECKPOINT_FILES.manifest);
            const manifest = JSON.parse(readFileSync(mp, 'utf8')) as {
              files: Record<string, { bytes: number; sha256: string }>;
            };
            manifest.files[CHECKPOINT_FILES.model] = {
              bytes: bytes.length,
              sha256: createHash('sha256').update(bytes).digest('hex'),
            };
            writeFileSync(mp, JSON.stringify(manifest));
          });
          assert.throws(
            () => store.load(),
            isError(
              'corrupt',
              new RegExp(
                `model\\.safetensors has non-finite values in tensor "ln\\.gamma": 1 of 3 values ` +
                  `are NaN or infinite \\(the first, ${bad}, at index 1\\)`,
              ),
            ),
          );
        }
      });

      it('should call a complete file of another size replaced, not truncated', async () => {
        const { store } = await damaged((d) => {
          const p = join(d, CHECKPOINT_FILES.model);
          const file = decodeSafetensors(new Uint8Array(readFileSync(p)));
          file.tensors.delete('ln.gamma'); // a valid, shorter safetensors file
          writeFileSync(p, encodeSafetensors(file.tensors, file.metadata));
        });
        assert.throws(
          () => store.load(),
          isError(
            'corrupt',
            new RegExp(
              'model\\.safetensors is not the file this checkpoint wrote: \\d+ bytes, ' +
                'the manifest says \\d+ \\(it was replaced or changed',
            ),
          ),
        );
      });

      it('should name a flipped header byte', async () => {
        const { store } = await damaged((d) => {
          const p = join(d, CHECKPOINT_FILES.optimizer);
          const bytes = readFileSync(p);
          bytes[8] = 0x5b; // '{' -> '['
          writeFileSync(p, bytes);
        });
        assert.throws(
          () => store.load(),
          isError('corrupt', /optimizer\.safetensors has a header that is not valid UTF-8 JSON/),
        );
      });

      it('should catch a flipped data byte by its hash', async () => {
        const { store } = await damaged((d) => {
          const p = join(d, CHECKPOINT_FILES.model);
          const bytes = readFileSync(p);
          bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0x01;
          writeFileSync(p, bytes);
        });
        assert.throws(
          () => store.load(),
          isError('corrupt', /model\.safetensors is corrupt: its SHA-256 differs/),
        );
      });

      it('should name broken JSON', async () => {
        const { store } = await damaged((d) => {
          const p = join(d, CHECKPOINT_FILES.state);
          const bytes = readFileSync(p);
          bytes[0] = 0x20;
          writeFileSync(p, bytes);
        });
        assert.throws(() => store.load(), isError('corrupt', /state\.json is not valid JSON/));
      });

      it('should say when there is no checkpoint at all', () => {
        assert.throws(
          () => new CheckpointStore(fresh()).load(),
          isError('missing', /holds no complete checkpoint/),
        );
        assert.throws(
          () => loadCheckpoint(join(tmp(), 'nowhere')),
          isError('missing', /does not exist/),
        );
      });
    });

    describe('when the checkpoint is for another model', () => {
      it('should list missing, unexpected and reshaped parameters and assign nothing', async () => {
        const store = new CheckpointStore(fresh());
        await save(store, 1);
        const other = new Map([
          ['embed.weight', tf.variable(tf.zeros([2, 4]))],
          ['head.w', tf.variable(tf.zeros([3]))],
        ]);
        assert.throws(
          () => store.load(undefined, { expectWeights: shapesOf(other) }),
          isError(
            'mismatch',
            new RegExp(
              'model\\.safetensors does not match the model: missing head\\.w; ' +
                'unexpected ln\\.gamma; embed\\.weight has shape \\[2, 3\\], expected ' +
                '\\[2, 4\\]',
            ),
          ),
        );
        const loaded = store.load();
        assert.throws(
          () => assignWeights(other, loaded.weights),
          isError('mismatch', /missing head\.w/),
        );
        assert.deepEqual(
          Array.from((other.get('embed.weight') as Variable).dataSync()),
          new Array(8).fill(0),
        );
        tf.dispose([...other.values()]);
        assert.ok(existsSync(store.latest() as string));
      });
    });
  }, ['cpu']);
});
