// The model form: labelled controls built from one field list, read back as FormValues, with the
// per-block router selects (blockRouters.ts) filled from the worker's registry listing.
import { DEFAULT_FORM, MODEL_KINDS, type FormValues } from '../settings.js';
import type { RouterEntry } from '../protocol.js';
import {
  BLOCK_ROUTER_INPUTS,
  drawBlockRouters,
  fillBlockRouters,
  readBlockRouters,
} from './blockRouters.js';

type Field =
  | { id: string; label: string; kind: 'number'; value: number; min: number; step?: number }
  | { id: string; label: string; kind: 'text'; value: string }
  | { id: string; label: string; kind: 'select'; value: string; options: readonly string[] };

/** The page's backends, in the order offered. */
export const BACKEND_CHOICES = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;

const d = DEFAULT_FORM;
const GROUPS: readonly { legend: string; fields: readonly Field[] }[] = [
  {
    legend: 'Architecture',
    fields: [
      { id: 'kind', label: 'Model', kind: 'select', value: d.kind, options: MODEL_KINDS },
      { id: 'width', label: 'Width', kind: 'number', value: d.width, min: 1 },
      { id: 'numLayers', label: 'Layers', kind: 'number', value: d.numLayers, min: 1 },
      { id: 'numHeads', label: 'Heads', kind: 'number', value: d.numHeads, min: 1 },
      { id: 'contextLength', label: 'Context', kind: 'number', value: d.contextLength, min: 2 },
    ],
  },
  {
    legend: 'Routing',
    fields: [
      {
        id: 'routedBlocks',
        label: 'Routed blocks (e.g. 1,3 or all)',
        kind: 'text',
        value: d.routedBlocks,
      },
      {
        id: 'capacity',
        label: 'MoD capacity',
        kind: 'number',
        value: d.capacity,
        min: 0.01,
        step: 0.01,
      },
      { id: 'numExperts', label: 'Experts', kind: 'number', value: d.numExperts, min: 1 },
      { id: 'topK', label: 'K (experts per token)', kind: 'number', value: d.topK, min: 1 },
      {
        id: 'capacityPreset',
        label: 'Expert capacity preset',
        kind: 'select',
        value: '',
        options: [''],
      },
    ],
  },
  {
    legend: 'Training',
    fields: [
      { id: 'backend', label: 'Backend', kind: 'select', value: 'wasm', options: BACKEND_CHOICES },
      { id: 'batchSize', label: 'Batch', kind: 'number', value: 8, min: 1 },
      {
        id: 'learningRate',
        label: 'Learning rate',
        kind: 'number',
        value: 0.003,
        min: 0,
        step: 0.0001,
      },
      { id: 'steps', label: 'Steps', kind: 'number', value: 300, min: 1 },
      { id: 'evalEvery', label: 'Evaluate every (steps)', kind: 'number', value: 20, min: 1 },
      { id: 'seed', label: 'Seed', kind: 'number', value: d.seed, min: 0 },
    ],
  },
];

function control(field: Field): HTMLElement {
  const wrap = document.createElement('p');
  const label = document.createElement('label');
  label.htmlFor = field.id;
  label.textContent = field.label;
  let input: HTMLInputElement | HTMLSelectElement;
  if (field.kind === 'select') {
    input = document.createElement('select');
    for (const o of field.options) input.add(new Option(o === '' ? "router's default" : o, o));
  } else {
    input = document.createElement('input');
    input.type = field.kind;
    if (field.kind === 'number') {
      input.min = String(field.min);
      input.step = String(field.step ?? 1);
    }
  }
  input.id = field.id;
  input.name = field.id;
  input.value = String(field.value);
  wrap.append(label, input);
  return wrap;
}

/** Fills `form` with the model, routing and training fields and the text area. */
export function buildForm(form: HTMLFormElement, corpus: string): void {
  for (const group of GROUPS) {
    const set = document.createElement('fieldset');
    const legend = document.createElement('legend');
    legend.textContent = group.legend;
    set.append(legend, ...group.fields.map(control));
    if (group.legend === 'Routing') {
      const routers = document.createElement('div');
      routers.id = 'block-routers';
      set.append(routers);
    }
    form.append(set);
  }
  drawBlockRouters(form);
  for (const id of BLOCK_ROUTER_INPUTS)
    form.querySelector(`#${id}`)!.addEventListener('input', () => drawBlockRouters(form));
  const set = document.createElement('fieldset');
  set.innerHTML =
    '<legend>Text to train on</legend><p><label for="text">Paste text, or drop a text file ' +
    'here (default: two State of the Union addresses, the embedded corpus)</label></p>' +
    '<textarea id="text" name="text" rows="5"></textarea>' +
    '<p><button type="button" id="use-corpus">Use the embedded corpus</button></p>';
  form.append(set);
  const text = form.querySelector<HTMLTextAreaElement>('#text')!;
  text.value = corpus;
  form.querySelector('#use-corpus')!.addEventListener('click', () => (text.value = corpus));
  text.addEventListener('dragover', (e) => e.preventDefault());
  text.addEventListener('drop', (e) => {
    e.preventDefault();
    const file = e.dataTransfer?.files[0];
    if (file !== undefined) void file.text().then((t) => (text.value = t));
  });
}

const value = (form: HTMLFormElement, id: string) =>
  form.querySelector<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(`#${id}`)!.value;

/** Reads a numeric field; throws a message naming it when it is not a number. */
function numberOf(form: HTMLFormElement, id: string): number {
  const raw = value(form, id);
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) {
    const label = form.querySelector(`label[for="${id}"]`)?.textContent ?? id;
    throw new Error(`${label}: "${raw}" is not a number`);
  }
  return n;
}

/** The form's model fields. */
export function readModelFields(form: HTMLFormElement): FormValues {
  const n = (id: string) => numberOf(form, id);
  return {
    kind: value(form, 'kind') as FormValues['kind'],
    ...{ width: n('width'), numLayers: n('numLayers'), numHeads: n('numHeads') },
    ...{ contextLength: n('contextLength'), routedBlocks: value(form, 'routedBlocks') },
    ...{ capacity: n('capacity'), ...readBlockRouters(form) },
    ...{ numExperts: n('numExperts'), topK: n('topK') },
    ...{ capacityPreset: value(form, 'capacityPreset'), seed: n('seed') },
  };
}

/** The form's training fields and text. */
export function readTrainingFields(form: HTMLFormElement) {
  const n = (id: string) => numberOf(form, id);
  return {
    backend: value(form, 'backend'),
    ...{ batchSize: n('batchSize'), learningRate: n('learningRate'), steps: n('steps') },
    ...{ evalEvery: n('evalEvery'), text: value(form, 'text') },
  };
}

/** Offers each registered router in the block-router selects of its stage, and the presets. */
export function fillRouters(
  form: HTMLFormElement,
  routers: readonly RouterEntry[],
  presets: readonly string[],
): void {
  const preset = form.querySelector<HTMLSelectElement>('#capacityPreset')!;
  preset.replaceChildren(
    new Option("router's default", ''),
    ...presets.map((p) => new Option(p, p)),
  );
  fillBlockRouters(form, routers);
}
