// The routing panels: a token heatmap per routed block (which tokens of the fixed validation
// window it processed), the expert load of each routed block, the causal rules' agreement table
// and the generated text coloured by how many blocks computed each token. Counts are exposed as
// data- attributes (data-selected, data-marked, data-blocks) for tests and tools.
import type { Agreement, GeneratedPiece, Heatmap } from '../protocol.js';
import { OKABE_ITO, ramp } from './palette.js';

function node<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const n = Object.assign(document.createElement(tag), props);
  n.append(...children);
  return n;
}

function styled<E extends HTMLElement>(element: E, style: Record<string, string>): E {
  Object.assign(element.style, style);
  return element;
}

/** The heatmap legend: processed tokens are dark blue, bold and underlined; skipped ones light. */
export function heatmapLegend(host: HTMLElement): void {
  host.replaceChildren(
    node('span', { className: 'tok on' }, 'a'),
    ' processed by the block (attention and MLP)   ',
    node('span', { className: 'tok' }, 'a'),
    ' skipped (went around the block on the residual path)',
  );
}

/** One row per routed block: the window's tokens, processed ones marked. */
export function drawHeatmaps(
  host: HTMLElement,
  tokens: readonly string[],
  maps: readonly Heatmap[],
): void {
  host.replaceChildren(
    ...maps.map((m) => {
      const marked = m.processed.filter((p) => p === 1).length;
      const row = node('div', { className: 'heatmap' });
      Object.assign(row.dataset, {
        block: String(m.block),
        selected: String(m.selected),
        marked: String(marked),
        tokens: String(tokens.length),
      });
      const cells = tokens.map((t, i) =>
        node('span', { className: m.processed[i] === 1 ? 'tok on' : 'tok' }, t),
      );
      row.append(
        node('h3', {}, `${m.label}: ${marked} of ${tokens.length} tokens processed`),
        node('div', { className: 'tokens' }, ...cells),
      );
      return row;
    }),
  );
  if (maps.length === 0) host.replaceChildren(node('p', {}, 'This model has no routed block.'));
}

/** Bars of tokens per expert for each routed block (MoD: the one "selected" bar). */
export function drawLoads(
  host: HTMLElement,
  loads: readonly { block: number; load: readonly number[] }[],
): void {
  host.replaceChildren(
    ...loads.map(({ block, load }) => {
      const max = Math.max(1, ...load);
      const bars = load.map((n, e) =>
        node(
          'div',
          { className: 'bar' },
          node('span', { className: 'bar-label' }, load.length === 1 ? 'selected' : `expert ${e}`),
          styled(node('span', { className: 'bar-fill' }), {
            width: `${(100 * n) / max}%`,
            background: OKABE_ITO[2]!,
          }),
          node('span', { className: 'bar-value' }, String(n)),
        ),
      );
      const group = node('div', { className: 'load' }, node('h3', {}, `block ${block}`), ...bars);
      group.dataset['block'] = String(block);
      return group;
    }),
  );
}

const percent = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The table of each MoD block's causal rules against top-k at the last evaluation. */
export function drawAgreement(host: HTMLElement, agreement: readonly Agreement[]): void {
  if (agreement.length === 0) {
    host.replaceChildren(node('p', {}, 'No Mixture-of-Depths block: nothing to compare.'));
    return;
  }
  const head = node(
    'tr',
    {},
    ...['block', 'top-k keeps', 'rule', 'agreement', 'precision', 'recall'].map((h) =>
      node('th', {}, h),
    ),
  );
  const rows = agreement.flatMap((a) =>
    a.rules.map((r) =>
      node(
        'tr',
        {},
        ...[
          String(a.block),
          percent(a.topKFraction),
          r.rule,
          percent(r.accuracy),
          percent(r.precision),
          percent(r.recall),
        ].map((c) => node('td', {}, c)),
      ),
    ),
  );
  host.replaceChildren(node('table', {}, node('thead', {}, head), node('tbody', {}, ...rows)));
}

/** The legend of generated tokens: blocks that computed them, 0 to `numBlocks`. */
export function generatedLegend(host: HTMLElement, numBlocks: number): void {
  const keys = Array.from({ length: numBlocks + 1 }, (_, n) => {
    const c = ramp(n, numBlocks);
    return styled(node('span', { className: 'tok' }, String(n)), {
      background: c.fill,
      color: c.text,
    });
  });
  host.replaceChildren('Blocks that computed the token: ', ...keys);
}

/** The generated text, each token on the colour of the number of blocks that computed it. */
export function drawGenerated(
  host: HTMLElement,
  pieces: readonly GeneratedPiece[],
  numBlocks: number,
): void {
  host.replaceChildren(
    ...pieces.map((p) => {
      const c = ramp(p.blocks, numBlocks);
      const span = node(
        'span',
        { className: 'tok', title: `${p.blocks} of ${numBlocks} blocks` },
        p.text,
      );
      span.style.background = c.fill;
      span.style.color = c.text;
      span.dataset['blocks'] = String(p.blocks);
      return span;
    }),
  );
  host.dataset['tokens'] = String(pieces.length);
}
