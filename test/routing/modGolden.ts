// The Mixture-of-Depths golden problem the router specs share: w = [1, -1] and x = [r, 0], so
// r is the first feature; a training-mode route whose statistics are folded; the BCE on the host.
import { tf, type Tensor3D } from '@moderoute/core';
import { MixtureOfDepthsRouter, type MixtureOfDepthsPlan } from '@moderoute/routing';

export const R = [0.5, 2, -1, 2, 0.1, 3, -2, 0];
export const X = [R.map((r) => [r, 0])];

export function golden(extra: Record<string, unknown> = {}): MixtureOfDepthsRouter {
  const router = new MixtureOfDepthsRouter({ dModel: 2, capacity: 0.25, ...extra });
  router.weight.assign(tf.tensor2d([[1], [-1]]));
  return router;
}

/** A training-mode top-k route whose statistics are folded, as the training step does. */
export function trainRoute(router: MixtureOfDepthsRouter, x: Tensor3D): MixtureOfDepthsPlan {
  const plan = router.route(x, { training: true });
  router.foldStatistics(plan.statistics ? [plan.statistics] : []);
  return plan;
}

export const bce = (z: number, y: number) =>
  Math.max(z, 0) - z * y + Math.log(1 + Math.exp(-Math.abs(z)));
