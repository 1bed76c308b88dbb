// Line charts drawn by hand in SVG: the training and validation loss, and the causal rules'
// agreement with top-k over the steps. Each series has its own colour and dash, and a legend.
import { OKABE_ITO } from './palette.js';

/** One line of a chart. */
export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

const NS = 'http://www.w3.org/2000/svg';
const DASHES = ['', '6 3', '2 3', '8 3 2 3'];

function el(name: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Draws `series` into `host` as an SVG line chart titled `title` (replacing what was there). */
export function lineChart(
  host: HTMLElement,
  title: string,
  series: readonly Series[],
  axes: { x: string; y: string; yMin?: number; yMax?: number },
): void {
  const width = 520;
  const height = 220;
  const m = { left: 48, right: 12, top: 26, bottom: 36 };
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const svg = el('svg', { viewBox: `0 0 ${width} ${height + 20 * series.length}`, role: 'img' });
  svg.append(el('title', {}, title));
  const xMax = Math.max(1, ...all.map(([x]) => x));
  const yMin = axes.yMin ?? Math.min(...all.map(([, y]) => y), Infinity);
  const yMax = axes.yMax ?? Math.max(...all.map(([, y]) => y), -Infinity);
  const lo = Number.isFinite(yMin) ? yMin : 0;
  const hi = Number.isFinite(yMax) && yMax > lo ? yMax : lo + 1;
  const sx = (x: number) => m.left + (x / xMax) * (width - m.left - m.right);
  const sy = (y: number) => m.top + (1 - (y - lo) / (hi - lo)) * (height - m.top - m.bottom);
  const axis = { stroke: '#333', 'stroke-width': 1 };
  svg.append(el('line', { x1: m.left, y1: sy(lo), x2: width - m.right, y2: sy(lo), ...axis }));
  svg.append(el('line', { x1: m.left, y1: sy(lo), x2: m.left, y2: sy(hi), ...axis }));
  for (const y of [lo, (lo + hi) / 2, hi])
    svg.append(
      el(
        'text',
        { x: m.left - 4, y: sy(y) + 4, 'text-anchor': 'end', 'font-size': 11 },
        y.toFixed(2),
      ),
    );
  svg.append(
    el(
      'text',
      { x: width - m.right, y: height - 20, 'text-anchor': 'end', 'font-size': 11 },
      `${axes.x} (0 to ${xMax})`,
    ),
  );
  svg.append(el('text', { x: 4, y: 12, 'font-size': 11 }, axes.y));
  series.forEach((s, i) => {
    const colour = OKABE_ITO[i % OKABE_ITO.length]!;
    const dash = DASHES[i % DASHES.length]!;
    const points = s.points.filter(([, y]) => Number.isFinite(y));
    const line = { fill: 'none', stroke: colour, 'stroke-width': 2, 'stroke-dasharray': dash };
    svg.append(
      el('polyline', { points: points.map(([x, y]) => `${sx(x)},${sy(y)}`).join(' '), ...line }),
    );
    const ly = height + 20 * i;
    svg.append(el('line', { x1: m.left, y1: ly, x2: m.left + 30, y2: ly, ...line }));
    svg.append(el('text', { x: m.left + 36, y: ly + 4, 'font-size': 12 }, s.name));
  });
  host.replaceChildren(svg);
}
