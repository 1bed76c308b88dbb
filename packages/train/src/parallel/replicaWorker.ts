// A data-parallel replica (worker thread of a ReplicaPool): starts its own backend instance on
// one kernel thread, builds the model the training thread attaches (from its config, with the
// built-in modules), and for each step message loads the weights, computes its rows' loss and
// gradients (shardStep.ts) and sends them back with its routers' statistics. The training thread
// owns the optimizer and every checkpoint; see DataParallel.ts.
import { parentPort } from 'node:worker_threads';
import {
  initBackend,
  matmulPeakGflops,
  readInto,
  setOwnKernels,
  type Tensor,
  type Variable,
  type Tensor2D,
  tf,
} from '@moderoute/core';
import { createContainer, MODEL_IDS, type LanguageModel } from '@moderoute/model';
import { loadPluginModules, type ContainerModule } from '../plugins.js';
import {
  assignPacked,
  type FromReplica,
  type ModelMessage,
  type StepMessage,
  type ToReplica,
} from './protocol.js';
import { shardGradients } from './shardStep.js';

const port = parentPort;
if (port === null)
  throw new Error('replicaWorker runs as a worker thread (started by ReplicaPool)');

let replica = 0;
let extraModules: ContainerModule[] = [];
/** A model the training thread attached, with its variables and shared buffers. */
interface Slot {
  readonly model: LanguageModel;
  readonly variables: Variable[];
  /** The trainable variables by name, in packing order. */
  readonly trainable: (readonly [string, Variable])[];
  readonly buffers: { weights: Float32Array; grads: Float32Array };
  /** Core's own kernels for this model's steps (ModelMessage.ownKernels; undefined: the default). */
  readonly ownKernels: boolean | undefined;
}
/** The attached models by slot (several when the training thread interleaves them). */
const slots = new Map<number, Slot>();

function drop(slot: number): void {
  slots.get(slot)?.model.dispose();
  slots.delete(slot);
}

const send = (message: FromReplica, transfer: ArrayBuffer[] = []) =>
  port.postMessage(message, transfer);

function attach(message: ModelMessage): void {
  for (const slot of [...slots.keys()]) if (!message.alongside || slot === message.slot) drop(slot);
  const built = createContainer(...extraModules)
    .get(MODEL_IDS.ModelFactory)
    .create(message.config);
  const named = built.namedParameters();
  const expected = message.variables.map((v) => `${v.name}${JSON.stringify(v.shape)}`).join(',');
  const actual = [...named].map(([name, v]) => `${name}${JSON.stringify(v.shape)}`).join(',');
  if (expected !== actual) {
    built.dispose();
    throw new Error(
      `replica ${replica} built a different model from the same config ` +
        `(variables ${actual.slice(0, 200)} vs ${expected.slice(0, 200)})`,
    );
  }
  slots.set(message.slot, {
    model: built,
    variables: [...named.values()],
    trainable: message.variables
      .filter((v) => v.trainable)
      .map((v) => [v.name, named.get(v.name)!] as const),
    buffers: {
      weights: new Float32Array(message.weights),
      grads: new Float32Array(message.grads),
    },
    ownKernels: message.ownKernels,
  });
}

/** Every trainable variable's gradient at its place in `out`, zeros where there is none. */
function packGradients(
  trainable: Slot['trainable'],
  grads: ReadonlyMap<string, Tensor>,
  out: Float32Array,
): void {
  let offset = 0;
  for (const [name, v] of trainable) {
    const g = grads.get(name);
    if (g === undefined) out.fill(0, offset, offset + v.size);
    else readInto(g, out, offset);
    offset += v.size;
  }
}

function step(message: StepMessage): void {
  const slot = slots.get(message.slot);
  if (slot === undefined)
    throw new Error(
      `replica ${replica} has no model in slot ${message.slot}: attach one before a step`,
    );
  const { model, variables, trainable, buffers } = slot;
  // Steps are this thread's only work with own kernels: the slot's switch holds until the next.
  setOwnKernels(slot.ownKernels);
  const start = performance.now();
  assignPacked(variables, buffers.weights);
  const loaded = performance.now();
  const inputs = tf.tensor2d(message.inputs, [message.rows, message.seqLen], 'int32') as Tensor2D;
  const targets = tf.tensor2d(message.targets, [message.rows, message.seqLen], 'int32') as Tensor2D;
  let shard: ReturnType<typeof shardGradients> | undefined;
  try {
    shard = shardGradients(
      model,
      inputs,
      targets,
      message.step !== undefined && message.seed !== undefined
        ? { step: message.step, seed: message.seed, replica }
        : undefined,
    );
    const computed = performance.now();
    const present = trainable.map(([name]) => shard!.grads.has(name));
    packGradients(trainable, shard.grads, buffers.grads);
    send({
      type: 'result',
      id: message.id,
      timing: {
        loadMs: loaded - start,
        computeMs: computed - loaded,
        packMs: performance.now() - computed,
      },
      loss: shard.loss,
      lmLoss: shard.lmLoss,
      auxLosses: shard.auxLosses,
      routing: shard.routing,
      statistics: shard.statistics[0] ?? {},
      present,
    });
  } finally {
    tf.dispose([inputs, targets, ...(shard ? shard.grads.values() : [])]);
  }
}

port.on('message', (message: ToReplica) => {
  const run = async () => {
    switch (message.type) {
      case 'init':
        replica = message.replica;
        await initBackend({ backend: message.backend, threads: 1 });
        extraModules = await loadPluginModules(message.modules);
        send({ type: 'ready' });
        break;
      case 'model':
        attach(message);
        send({ type: 'ready' });
        break;
      case 'step':
        step(message);
        break;
      case 'drop':
        drop(message.slot);
        send({ type: 'ready' });
        break;
      case 'peak':
        send({ type: 'peak', gflops: matmulPeakGflops(message.reps, message.product) });
        break;
      case 'close':
        for (const slot of [...slots.keys()]) drop(slot);
        port.close();
        break;
    }
  };
  run().catch((error: unknown) => {
    send({
      type: 'error',
      message: error instanceof Error ? error.message : String(error),
      ...(error instanceof Error && error.stack ? { stack: error.stack } : {}),
    });
  });
});
