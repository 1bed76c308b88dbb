// ReplicaPool.attach(model, { ownKernels }): core's own wasm kernels switched on or off for every
// replica's part of a model's steps, the workers' included (setOwnKernels is a switch per thread,
// which a worker does not share). The workers' own layer-norm kernel is counted by a plugin module
// (fixtures/countOwnLayerNorm.ts); the training thread's is seen in tf.profile's kernel names.
import assert from 'node:assert/strict';
import { BroadcastChannel } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import {
  LAYER_NORM_FORWARD,
  initBackend,
  ownKernelsOn,
  ownLayerNormKernels,
  setOwnKernels,
  tf,
  type Tensor2D,
} from '@moderoute/core';
import { createContainer, MODEL_IDS, type LanguageModelConfig } from '@moderoute/model';
import { ReplicaPool, type DataParallel } from '../src/index.js';
import { CHANNEL, type CallsReply } from './fixtures/countOwnLayerNorm.js';

const TINY: LanguageModelConfig = {
  vocabSize: 256,
  width: 16,
  numHeads: 2,
  numLayers: 2,
  contextLength: 8,
  seed: 3,
};

/** The worker's count of own layer-norm forward calls so far (the pool has one worker). */
async function workerCalls(): Promise<number> {
  const channel = new BroadcastChannel(CHANNEL);
  try {
    const reply = new Promise<CallsReply>((resolve) => {
      channel.onmessage = (event) => resolve((event as { data: CallsReply }).data);
    });
    channel.postMessage('calls?');
    return (await reply).calls;
  } finally {
    channel.close();
  }
}

describe('ReplicaPool.attach with ownKernels', () => {
  let pool: ReplicaPool;
  let inputs: Tensor2D;
  let targets: Tensor2D;
  before(async () => {
    await initBackend({ backend: 'wasm', preferredThreads: 1 });
    const modules = fileURLToPath(new URL('./fixtures/countOwnLayerNorm.ts', import.meta.url));
    pool = await ReplicaPool.start({ replicas: 2, modules });
    const ids = tf.randomUniform([4, 9], 0, 256, 'int32', 5);
    inputs = tf.slice(ids, [0, 0], [4, 8]) as Tensor2D;
    targets = tf.slice(ids, [0, 1], [4, 8]) as Tensor2D;
    ids.dispose();
  });
  after(async () => {
    setOwnKernels(undefined);
    tf.dispose([inputs, targets]);
    await pool.close();
  });

  /** One step of `stepper`: whether each thread ran the own layer-norm kernel. */
  async function step(stepper: DataParallel): Promise<{ worker: boolean; training: boolean }> {
    const calls = await workerCalls();
    let grads: tf.Tensor[] = [];
    const profile = await tf.profile(async () => {
      grads = [...(await stepper.step(inputs, targets)).grads.values()];
    });
    tf.dispose(grads);
    return {
      worker: (await workerCalls()) > calls,
      training: profile.kernelNames.includes(LAYER_NORM_FORWARD),
    };
  }

  it("should run each model's steps with its switch on every replica, and the default without", async () => {
    assert.equal(ownLayerNormKernels(), true, 'the own layer norm serves wasm here');
    const numTensors = tf.memory().numTensors;
    const factory = createContainer().get(MODEL_IDS.ModelFactory);
    const models = [0, 1, 2].map(() => factory.create(TINY));
    try {
      const off = await pool.attach(models[0]!, { alongside: true, ownKernels: false });
      const on = await pool.attach(models[1]!, { alongside: true, ownKernels: true });
      const byDefault = await pool.attach(models[2]!, { alongside: true });
      assert.deepEqual(await step(off), { worker: false, training: false });
      // The training thread's own switch is off: the attached switch wins for the step only.
      setOwnKernels(false);
      assert.deepEqual(await step(on), { worker: true, training: true });
      assert.equal(ownKernelsOn(), false, "the training thread's switch is restored");
      setOwnKernels(undefined);
      assert.deepEqual(await step(off), { worker: false, training: false });
      assert.deepEqual(await step(byDefault), { worker: true, training: true });
      for (const s of [off, on, byDefault]) await pool.detach(s);
    } finally {
      for (const m of models) m.dispose();
    }
    assert.equal(tf.memory().numTensors, numTensors);
  });

  it("should measure the replicas' matmul peak with tfjs's product and with core's own", async () => {
    const tfjs = await pool.matmulPeakGflops(1);
    const own = await pool.matmulPeakGflops(1, 'own');
    assert.ok(Number.isFinite(tfjs) && tfjs > 0, `tfjs ${tfjs}`);
    assert.ok(Number.isFinite(own) && own > 0, `own ${own}`);
  });
});
