// The page: the form, the buttons and the panels, talking to the training worker (worker.ts).
// Nothing here touches TensorFlow.js, so the page stays responsive while the worker trains.
import type { FromWorker, RunSettings, ToWorker } from './protocol.js';
import { modelConfig } from './settings.js';
import { EMBEDDED_CORPUS } from './corpus.js';
import { textProblem } from './text.js';
import { lineChart } from './ui/charts.js';
import { downloadCheckpoint, pickedCheckpoint } from './ui/checkpointFiles.js';
import { buildForm, fillRouters, readModelFields, readTrainingFields } from './ui/form.js';
import {
  drawAgreement,
  drawGenerated,
  drawHeatmaps,
  drawLoads,
  generatedLegend,
  heatmapLegend,
} from './ui/panels.js';
import { buildGenerateForm, readGenerateFields } from './ui/generateForm.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('model-form');
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (message: ToWorker) => worker.postMessage(message);

const history = { train: [] as [number, number][], validation: [] as [number, number][] };
let agreementHistory = new Map<string, [number, number][]>();
let numBlocks = 0;
let checkpointFiles: readonly string[] = [];

function showError(message: string): void {
  const p = document.createElement('p');
  p.textContent = message;
  $('errors').replaceChildren(p);
}
const clearError = () => $('errors').replaceChildren();
function status(text: string): void {
  $('status').textContent = text;
}

/** The run the form describes; throws a message in words when a field or the text is wrong. */
function runSettings(): RunSettings {
  const values = readModelFields(form);
  const training = readTrainingFields(form);
  const problem = textProblem(training.text, values.contextLength);
  if (problem !== undefined) throw new Error(problem);
  return { model: modelConfig(values), ...training, seed: values.seed };
}

function build(): void {
  try {
    const settings = runSettings();
    clearError();
    history.train = [];
    history.validation = [];
    agreementHistory = new Map();
    status('Building the model…');
    send({ type: 'build', settings });
  } catch (error) {
    showError(error instanceof Error ? error.message : String(error));
  }
}

function drawLoss(): void {
  // The curves' values, for tests and tools.
  $('loss-panel').dataset['train'] = JSON.stringify(history.train.map(([, y]) => y));
  $('loss-panel').dataset['validation'] = JSON.stringify(history.validation.map(([, y]) => y));
  lineChart(
    $('loss-chart'),
    'Training and validation loss',
    [
      { name: 'training (bits per byte)', points: history.train },
      { name: 'validation (bits per byte)', points: history.validation },
    ],
    { x: 'step', y: 'bits per byte' },
  );
}

function onMessage(m: FromWorker): void {
  switch (m.type) {
    case 'ready':
      fillRouters(form, m.routers, m.capacityPresets);
      checkpointFiles = m.checkpointFiles;
      return build();
    case 'backend':
      $('backend-name').textContent = m.description;
      $('backend-name').dataset['backend'] = m.name;
      return;
    case 'model':
      numBlocks = m.blocks.length;
      $('model-summary').textContent =
        `${m.source}: ${m.parameters.toLocaleString('en')} parameters, blocks ` +
        m.blocks
          .map(
            (b) =>
              `${b.index} ${b.kind}` + (b.routers.length > 0 ? ` (${b.routers.join(', ')})` : ''),
          )
          .join(', ');
      $('step').textContent = String(m.step);
      generatedLegend($('generated-legend'), numBlocks);
      status('Model ready.');
      return drawLoss();
    case 'step':
      history.train.push([m.step, m.trainBits]);
      if (Number.isFinite(m.stepsPerSecond)) drawLoss();
      $('step').textContent = String(m.step);
      if (Number.isFinite(m.stepsPerSecond))
        $('steps-per-second').textContent = m.stepsPerSecond.toFixed(2);
      return drawLoads($('loads'), m.loads);
    case 'snapshot': {
      const s = m.snapshot;
      if (Number.isFinite(s.validationBits)) history.validation.push([s.step, s.validationBits]);
      drawLoss();
      drawHeatmaps($('heatmaps'), s.tokens, s.heatmaps);
      for (const a of s.agreement)
        for (const r of a.rules) {
          const key = `block ${a.block} ${r.rule}`;
          agreementHistory.set(key, [...(agreementHistory.get(key) ?? []), [s.step, r.accuracy]]);
        }
      drawAgreement($('agreement'), s.agreement);
      if (agreementHistory.size > 0) {
        const chart = document.createElement('div');
        $('agreement').append(chart);
        lineChart(
          chart,
          'Agreement of each causal rule with top-k',
          [...agreementHistory].map(([name, points]) => ({ name, points })),
          { x: 'step', y: 'agreement', yMin: 0, yMax: 1 },
        );
      }
      return;
    }
    case 'state':
      $<HTMLButtonElement>('start').disabled = m.running || m.done;
      $<HTMLButtonElement>('pause').disabled = !m.running;
      status(m.running ? 'Training…' : m.done ? 'Training finished.' : 'Paused.');
      document.body.dataset['training'] = m.running ? 'running' : m.done ? 'done' : 'paused';
      return;
    case 'generated':
      drawGenerated($('generated'), m.pieces, m.numBlocks);
      return status('Generated.');
    case 'checkpoint': {
      downloadCheckpoint(m.name, m.files);
      const out = $('download-status');
      out.textContent = `${m.name}.tar: ${m.files.map(([f]) => f).join(', ')}`;
      out.dataset['probe'] = JSON.stringify(m.probe);
      out.dataset['probeLogits'] = JSON.stringify(m.probeLogits);
      return;
    }
    case 'error':
      status('Stopped by an error.');
      return showError(`${m.where}: ${m.message}`);
  }
}

worker.onmessage = (event: MessageEvent<FromWorker>) => onMessage(event.data);
worker.onerror = (event) => showError(`The training worker failed: ${event.message}`);

buildForm(form, EMBEDDED_CORPUS);
buildGenerateForm($<HTMLFormElement>('generate-form'));
heatmapLegend($('heatmap-legend'));
form.querySelector('#backend')!.addEventListener('change', () => {
  clearError();
  send({ type: 'backend', backend: readTrainingFields(form).backend });
});
$('start').addEventListener('click', () => send({ type: 'start' }));
$('pause').addEventListener('click', () => send({ type: 'pause' }));
$('reset').addEventListener('click', build);
$('generate').addEventListener('click', () => {
  clearError();
  send({ type: 'generate', ...readGenerateFields($<HTMLFormElement>('generate-form')) });
});
$('download').addEventListener('click', () => send({ type: 'download' }));
$<HTMLInputElement>('checkpoint-files').addEventListener('change', (event) => {
  const files = (event.target as HTMLInputElement).files;
  if (files === null || files.length === 0) return;
  pickedCheckpoint(files, checkpointFiles).then(
    ({ name, files: picked }) => {
      clearError();
      const text = readTrainingFields(form).text;
      send({ type: 'load', name, files: picked, text });
    },
    (error: unknown) => showError(error instanceof Error ? error.message : String(error)),
  );
});
send({ type: 'backend', backend: readTrainingFields(form).backend });
