// Small statistics of the sweep report: mean and sample standard deviation, the two-sided 95%
// Student-t interval of a mean, and a least-squares quadratic with its minimum (the isoFLOP
// curve of loss against log10 parameters, Raposo et al. 2024, figure 3; Hoffmann et al. 2022
// fit the same parabola to find the isoFLOP-optimal size).

/** Mean and sample standard deviation (0 for one value). */
export function meanSd(values: readonly number[]): { mean: number; sd: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n < 2 ? 0 : Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  return { mean, sd };
}

// Two-sided 95% quantiles t(0.975, df) for df = 1..30 (standard tables).
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145,
  2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048,
  2.045, 2.042,
];

/** t(0.975, df): the 95% two-sided Student-t quantile (1.96 past df 30). */
export function tQuantile975(df: number): number {
  if (!(df >= 1)) return Number.NaN;
  return df <= 30 ? T975[Math.floor(df) - 1]! : 1.96;
}

/** The 95% confidence interval of the mean of `values` (undefined with fewer than two). */
export function confidenceInterval95(
  values: readonly number[],
): { mean: number; low: number; high: number; halfWidth: number } | undefined {
  if (values.length < 2) return undefined;
  const { mean, sd } = meanSd(values);
  const halfWidth = (tQuantile975(values.length - 1) * sd) / Math.sqrt(values.length);
  return { mean, low: mean - halfWidth, high: mean + halfWidth, halfWidth };
}

/** y = a + b (x - x0) + c (x - x0)^2, fitted by least squares. */
export interface Quadratic {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly x0: number;
}

/** The quadratic's value at x. */
export const evaluateQuadratic = (q: Quadratic, x: number): number =>
  q.a + q.b * (x - q.x0) + q.c * (x - q.x0) ** 2;

/** Least-squares quadratic through (x, y); undefined with fewer than 3 distinct x. */
export function fitQuadratic(points: readonly { x: number; y: number }[]): Quadratic | undefined {
  if (new Set(points.map((p) => p.x)).size < 3) return undefined;
  const x0 = points.reduce((s, p) => s + p.x, 0) / points.length;
  // Normal equations M [a b c]^T = v with M[i][j] = sum u^(i+j), v[i] = sum y u^i, u = x - x0.
  const m = [0, 1, 2].map(() => [0, 0, 0, 0]);
  for (const p of points) {
    const u = p.x - x0;
    const pow = [1, u, u * u];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) m[i]![j]! += pow[i]! * pow[j]!;
      m[i]![3]! += p.y * pow[i]!;
    }
  }
  // Gaussian elimination with partial pivoting.
  for (let col = 0; col < 3; col++) {
    let pivot = col;
    for (let r = col + 1; r < 3; r++)
      if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    for (let r = 0; r < 3; r++) {
      if (r === col) continue;
      const f = m[r]![col]! / m[col]![col]!;
      for (let k = col; k < 4; k++) m[r]![k]! -= f * m[col]![k]!;
    }
  }
  const [a, b, c] = [0, 1, 2].map((i) => m[i]![3]! / m[i]![i]!) as [number, number, number];
  return [a, b, c].every(Number.isFinite) ? { a, b, c, x0 } : undefined;
}

/** The minimum of a quadratic: x = x0 - b / 2c when it opens upwards, else undefined. */
export function quadraticMinimum(q: Quadratic): { x: number; y: number } | undefined {
  if (!(q.c > 0)) return undefined;
  const x = q.x0 - q.b / (2 * q.c);
  return { x, y: evaluateQuadratic(q, x) };
}
