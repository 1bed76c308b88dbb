// A data-parallel replica (worker thread): builds the model from the training thread's config
// on its own backend instance (one kernel thread), and for each step message loads the weights,
// computes its rows' loss and gradients (shardStep.ts) and sends them back with its untrained
// state. The training thread owns the optimizer and every checkpoint; see DataParallel.ts.
import { parentPort } from 'node:worker_threads';
import { initBackend, type Variable, type Tensor2D, tf } from '@moderoute/core';
import { createContainer, MODEL_IDS, type LanguageModel } from '@moderoute/model';
import { assignPacked, packTensors, type FromReplica, type InitMessage, type StepMessage, type ToReplica } from './protocol.js';
import { shardGradients } from './shardStep.js';

const port = parentPort;
if (port === null) throw new Error('replicaWorker.ts runs as a worker thread (started by DataParallel)');

let model: LanguageModel | undefined;
let variables: Variable[] = [];
let trainableNames: string[] = [];
let stateVariables: Variable[] = [];

const send = (message: FromReplica, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function init(message: InitMessage): Promise<void> {
  await initBackend({ backend: message.backend, threads: 1 });
  model = createContainer().get(MODEL_IDS.ModelFactory).create(message.config);
  const named = model.namedParameters();
  const expected = message.variables.map((v) => `${v.name}${JSON.stringify(v.shape)}`).join(',');
  const actual = [...named].map(([name, v]) => `${name}${JSON.stringify(v.shape)}`).join(',');
  if (expected !== actual) throw new Error(`replica ${message.replica} built a different model from the same config (variables ${actual.slice(0, 200)} vs ${expected.slice(0, 200)})`);
  variables = [...named.values()];
  trainableNames = message.variables.filter((v) => v.trainable).map((v) => v.name);
  stateVariables = message.variables.filter((v) => !v.trainable).map((v) => named.get(v.name)!);
  send({ type: 'ready', replica: message.replica });
}

function step(message: StepMessage): void {
  const m = model!;
  assignPacked(variables, message.weights);
  const inputs = tf.tensor2d(message.inputs, [message.rows, message.seqLen], 'int32') as Tensor2D;
  const targets = tf.tensor2d(message.targets, [message.rows, message.seqLen], 'int32') as Tensor2D;
  const shard = shardGradients(m, inputs, targets);
  try {
    const grads = packTensors(trainableNames.map((name) => shard.grads.get(name)!));
    const state = packTensors(stateVariables);
    send({ type: 'result', id: message.id, loss: shard.loss, lmLoss: shard.lmLoss, auxLosses: shard.auxLosses, routing: shard.routing, grads, state }, [grads.buffer as ArrayBuffer, state.buffer as ArrayBuffer]);
  } finally {
    tf.dispose([inputs, targets, ...shard.grads.values()]);
  }
}

port.on('message', (message: ToReplica) => {
  const run = async () => {
    if (message.type === 'init') await init(message);
    else if (message.type === 'step') step(message);
    else {
      model?.dispose();
      port.close();
    }
  };
  run().catch((error: unknown) => {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error), ...(error instanceof Error && error.stack ? { stack: error.stack } : {}) });
  });
});
