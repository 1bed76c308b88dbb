// The router of each routed block, picked by registry name: for every layer the 'Routed blocks'
// field names (and the model kind routes), one labelled select per stage the block has, the depth
// stage listing the registry's Mixture-of-Depths routers and the expert stage the others (a
// router whose kind could not be probed is offered in both). Redrawn when the model kind, the
// layer count or the routed blocks change; a block keeps its choice while it stays routed.
import {
  DEFAULT_DEPTH_ROUTER,
  DEFAULT_EXPERT_ROUTER,
  routedLayers,
  routerStages,
  type FormValues,
  type ModelKind,
} from '../settings.js';
import type { RouterEntry } from '../protocol.js';

type Stage = 'depth' | 'expert';

/** The names each stage offers (the defaults alone until the worker lists the registry). */
const choices: Record<Stage, string[]> = {
  depth: [DEFAULT_DEPTH_ROUTER],
  expert: [DEFAULT_EXPERT_ROUTER],
};
const DEFAULTS: Record<Stage, string> = {
  depth: DEFAULT_DEPTH_ROUTER,
  expert: DEFAULT_EXPERT_ROUTER,
};

/** The fields whose change redraws the selects. */
export const BLOCK_ROUTER_INPUTS = ['kind', 'numLayers', 'routedBlocks'] as const;

const field = (form: HTMLFormElement, id: string) =>
  form.querySelector<HTMLInputElement | HTMLSelectElement>(`#${id}`)!.value;

/** The routed layers the form names now, [] while the field does not parse. */
function currentLayers(form: HTMLFormElement): number[] {
  try {
    const numLayers = Number(field(form, 'numLayers'));
    const layers = routedLayers({ numLayers, routedBlocks: field(form, 'routedBlocks') });
    return [...layers].sort((a, b) => a - b);
  } catch {
    return [];
  }
}

function select(layer: number, stage: Stage, previous: string | undefined): HTMLElement {
  const id = `router-${layer}-${stage}`;
  const wrap = document.createElement('p');
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = `Block ${layer} ${stage} router`;
  const input = document.createElement('select');
  input.id = id;
  input.name = id;
  input.dataset['layer'] = String(layer);
  input.dataset['stage'] = stage;
  for (const name of choices[stage]) input.add(new Option(name, name));
  const keep = [previous, DEFAULTS[stage]].find(
    (n) => n !== undefined && choices[stage].includes(n),
  );
  if (keep !== undefined) input.value = keep;
  wrap.append(label, input);
  return wrap;
}

/** Draws one select per stage of each routed block into `#block-routers`, keeping choices. */
export function drawBlockRouters(form: HTMLFormElement): void {
  const host = form.querySelector<HTMLElement>('#block-routers')!;
  const previous = new Map(
    [...host.querySelectorAll<HTMLSelectElement>('select')].map((s) => [s.id, s.value]),
  );
  const stages = routerStages(field(form, 'kind') as ModelKind);
  const wanted = (['depth', 'expert'] as const).filter((s) => stages[s]);
  const layers = wanted.length === 0 ? [] : currentLayers(form);
  host.replaceChildren(
    ...layers.flatMap((layer) =>
      wanted.map((stage) => select(layer, stage, previous.get(`router-${layer}-${stage}`))),
    ),
  );
  if (layers.length === 0) {
    const note = document.createElement('p');
    note.textContent = 'No routed block: no router to choose.';
    host.append(note);
  }
}

/** Offers each registered router in the selects of its stage, and redraws them. */
export function fillBlockRouters(form: HTMLFormElement, routers: readonly RouterEntry[]): void {
  const depth = (r: RouterEntry) => r.kind === 'mixture-of-depths' || r.kind === '';
  const expert = (r: RouterEntry) => r.kind !== 'mixture-of-depths';
  choices.depth = routers.filter(depth).map((r) => r.name);
  choices.expert = routers.filter(expert).map((r) => r.name);
  drawBlockRouters(form);
}

/** The selects' choices, by layer. */
export function readBlockRouters(
  form: HTMLFormElement,
): Pick<FormValues, 'depthRouters' | 'expertRouters'> {
  const depthRouters: Record<number, string> = {};
  const expertRouters: Record<number, string> = {};
  for (const s of form.querySelectorAll<HTMLSelectElement>('#block-routers select')) {
    const target = s.dataset['stage'] === 'depth' ? depthRouters : expertRouters;
    target[Number(s.dataset['layer'])] = s.value;
  }
  return { depthRouters, expertRouters };
}
