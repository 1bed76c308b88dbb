// The training worker: owns TensorFlow.js, the container and the model, so that training never
// blocks the page. It runs one step at a time and yields to its event loop between steps, where
// a pause, a generation or a download request is taken. Messages: protocol.ts.
import 'reflect-metadata';
import { describeBackend, initBackend } from '@moderoute/core';
import { projectionHashModule } from '@moderoute/example-custom-router-plugin';
import { MODEL_IDS, createContainer } from '@moderoute/model';
import { CAPACITY_PRESETS } from '@moderoute/routing';
import { CHECKPOINT_FILES, decodeCheckpoint, modelFromCheckpoint } from '@moderoute/train';
import { listRouters } from './routers.js';
import { generatePieces } from './generation.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { Session } from './session.js';
import { snapshot } from './snapshot.js';
import { digestAll, sha256 } from './digest.js';
import { loadBackendPackage } from './backends.js';

// The plugin router of examples/02-custom-router-plugin is registered beside the built-in ones:
// every name in the container's registry is offered on the page.
const container = createContainer(projectionHashModule);
const factory = container.get(MODEL_IDS.ModelFactory);
let session: Session | undefined;
let running = false;
let backendReady: Promise<void> | undefined;
/** The messages taken so far, handled in order (see onmessage). */
let queue: Promise<void> = Promise.resolve();

// The global postMessage is the worker's (DedicatedWorkerGlobalScope), typed here as Window's
// options form, which has the same shape.
const post = (message: FromWorker, transfer: Transferable[] = []) =>
  postMessage(message, { transfer });
const text = (error: unknown) => (error instanceof Error ? error.message : String(error));
const yieldToEvents = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function sendModel(s: Session): void {
  post({
    type: 'model',
    parameters: s.model.parameterCount(),
    blocks: s.blocks(),
    step: s.step,
    source: s.source,
  });
}

function setSession(next: Session): void {
  running = false;
  session?.dispose();
  session = next;
  sendModel(next);
  post({ type: 'snapshot', snapshot: snapshot(next) });
  post({ type: 'state', running: false, done: next.done });
}

async function useBackend(name: string): Promise<void> {
  await loadBackendPackage(name);
  const info = await initBackend({ backend: name, threads: 1 });
  post({ type: 'backend', name: info.name, description: describeBackend(info) });
  const checkpointFiles = Object.values(CHECKPOINT_FILES);
  post({
    type: 'ready',
    routers: listRouters(container),
    capacityPresets: CAPACITY_PRESETS,
    checkpointFiles,
  });
}

/**
 * Trains while `running`, one step at a time. Before each step it waits for the messages taken
 * meanwhile (a download reads the weights between steps, never during one).
 */
async function loop(): Promise<void> {
  while (running && session !== undefined && !session.done) {
    await queue;
    if (!running || session === undefined || session.done) break;
    const s = session;
    const { trainBits, loads } = s.trainStep();
    const evaluate = s.step % Math.max(1, s.settings.evalEvery) === 0 || s.done;
    const stepsPerSecond = evaluate ? s.stepsPerSecond() : Number.NaN;
    post({ type: 'step', step: s.step, trainBits, stepsPerSecond, loads });
    if (evaluate) post({ type: 'snapshot', snapshot: snapshot(s) });
    await yieldToEvents();
  }
  running = false;
  if (session !== undefined) post({ type: 'state', running: false, done: session.done });
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case 'backend': {
      // A backend the browser lacks is reported; the models after it build on the one running.
      const ready = useBackend(message.backend);
      backendReady = ready.catch(() => undefined);
      return ready;
    }
    case 'build':
      await backendReady;
      return setSession(Session.create(factory, message.settings));
    case 'start':
      if (session === undefined || running) return;
      running = true;
      post({ type: 'state', running: true, done: session.done });
      loop().catch((error: unknown) => fail('start', error));
      return;
    case 'pause':
      running = false;
      return;
    case 'generate': {
      if (session === undefined) throw new Error('build or load a model first');
      const { pieces } = generatePieces(session.model, message);
      post({ type: 'generated', pieces, numBlocks: session.model.config.numLayers });
      return;
    }
    case 'download': {
      if (session === undefined) throw new Error('build or load a model first');
      const { name, files } = await session.checkpoint(sha256);
      const probe = session.probe();
      const probeLogits = session.logits(probe);
      post(
        { type: 'checkpoint', name, files, probe, probeLogits },
        files.map(([, bytes]) => bytes.buffer as ArrayBuffer),
      );
      return;
    }
    case 'load': {
      await backendReady;
      const digests = await digestAll(message.files.map(([, bytes]) => bytes));
      const byName = new Map(message.files.map(([name, bytes]) => [name, bytes]));
      const checkpoint = decodeCheckpoint({
        dir: message.name,
        read: (file) => byName.get(file),
        sha256: (bytes) => digests.get(bytes) ?? '',
      });
      const { model } = modelFromCheckpoint(checkpoint, factory);
      const train = (checkpoint.config as { train?: { batchSize?: number; seed?: number } }).train;
      const settings = {
        model: model.getConfig(),
        batchSize: train?.batchSize ?? 8,
        learningRate: 1e-3,
        steps: checkpoint.step,
        evalEvery: 10,
        seed: train?.seed ?? 0,
        text: message.text,
      };
      const s = new Session(model, settings, `${message.name} (step ${checkpoint.step})`);
      s.step = checkpoint.step;
      return setSession(s);
    }
  }
}

function fail(where: string, error: unknown): void {
  running = false;
  post({ type: 'error', where, message: text(error) });
  if (session !== undefined) post({ type: 'state', running: false, done: session.done });
}

// Messages are handled one after another, in order (a build finishes before the start after it),
// except a pause, which takes effect at once: training stops before its next step.
self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (message.type === 'pause') return void (running = false);
  queue = queue.then(() => handle(message)).catch((error: unknown) => fail(message.type, error));
};
