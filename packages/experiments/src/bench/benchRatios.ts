// The ratios of `moderoute bench`, taken pass by pass (passes.ts) from each pass's median steps:
// dense against the matmul peak, every variant against dense, MoD/dense against the analytic FLOP
// ratio, moderoute against its peers, and with `--own-kernels both` each variant with core's own
// kernels against itself with tfjs's (its twin, config.ts's tfjsKernelsTwin).
import { OWN_PEAK, PAIRED_MOD_DENSE, tfjsKernelsTwin } from './config.js';
import { ratioSpreads, type Spread } from './passes.js';

type Pass = Record<string, number>;

/** The key of `name`'s step time over dense's: its twin's over dense's twin for a twin. */
export function denseRatioKey(name: string, twins: readonly string[]): string {
  return twins.some((t) => tfjsKernelsTwin(t) === name)
    ? `${name} / ${tfjsKernelsTwin('dense')}`
    : `${name} / dense`;
}

/** The key of variant `name`'s own-kernel step time over its twin's. */
export function ownOverTfjsKey(name: string): string {
  return `${name}: own / tfjs kernels`;
}

/**
 * Every ratio of a bench run over `passes`, from the runners' analytic FLOPs per step (`flops`,
 * by name) and the variants run with a twin (`twins`).
 */
export function benchRatios(
  passes: readonly Pass[],
  flops: Readonly<Record<string, number>>,
  twins: readonly string[],
): Record<string, Spread> {
  const analytic = flops['mod'] && flops['dense'] ? flops['mod'] / flops['dense'] : undefined;
  const over = (a: string, b: string) => (p: Pass) => (p[a] && p[b] ? p[a] / p[b] : undefined);
  const denseTwin = tfjsKernelsTwin('dense');
  const modTwin = tfjsKernelsTwin('mod');
  return ratioSpreads(passes, {
    'dense of peak': (p) =>
      flops['dense'] ? flops['dense'] / p['dense']! / 1e6 / p['peak']! : undefined,
    // The same against the peak measured with core's own product.
    'dense of own-product peak': (p) =>
      flops['dense'] && p[OWN_PEAK] ? flops['dense'] / p['dense']! / 1e6 / p[OWN_PEAK] : undefined,
    ...Object.fromEntries(
      Object.keys(flops).map((n) => {
        const key = denseRatioKey(n, twins);
        return [key, over(n, key.slice(n.length + 3))];
      }),
    ),
    ...Object.fromEntries(twins.map((n) => [ownOverTfjsKey(n), over(n, tfjsKernelsTwin(n))])),
    'mod / dense over analytic': (p) =>
      analytic && p['dense'] && p['mod'] ? p['mod'] / p['dense'] / analytic : undefined,
    // The same from the steps paired round by round (PAIRED_MOD_DENSE): steadier on a busy host.
    'mod / dense over analytic, paired steps': (p) =>
      analytic && p[PAIRED_MOD_DENSE] ? p[PAIRED_MOD_DENSE] / analytic : undefined,
    [`${modTwin} / ${denseTwin} over analytic`]: (p) =>
      analytic && twins.includes('dense') && twins.includes('mod')
        ? p[modTwin]! / p[denseTwin]! / analytic
        : undefined,
    'dense / pytorch dense': over('dense', 'pytorch_dense'),
    'mod / pytorch mod': over('mod', 'pytorch_mod'),
    'tfjs dense / dense': over('tfjs_dense', 'dense'),
  });
}
