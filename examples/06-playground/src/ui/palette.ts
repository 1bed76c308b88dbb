// Colours that stay apart for colour-blind readers: the Okabe-Ito palette for lines and marks,
// and a viridis ramp (perceptually ordered, readable in grey) for counts.

/** Okabe & Ito (2008), "Color Universal Design": blue, orange, bluish green, vermillion, ... */
export const OKABE_ITO = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#D55E00',
  '#CC79A7',
  '#56B4E9',
  '#F0E442',
];

/** Eight steps of viridis, dark to light. */
const VIRIDIS = [
  '#440154',
  '#46327e',
  '#365c8d',
  '#277f8e',
  '#1fa187',
  '#4ac16d',
  '#a0da39',
  '#fde725',
];

/** The viridis colour of `value` in [0, max], and a text colour readable on it. */
export function ramp(value: number, max: number): { fill: string; text: string } {
  const t = max > 0 ? Math.min(1, Math.max(0, value / max)) : 1;
  const i = Math.round(t * (VIRIDIS.length - 1));
  return { fill: VIRIDIS[i]!, text: i >= 4 ? '#000000' : '#ffffff' };
}
