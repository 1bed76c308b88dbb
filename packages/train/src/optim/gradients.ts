// The gradients an AdamW update takes: checked against the optimizer's parameters (names and
// shapes), and their global L2 norm ||G||_2, which decides the clipping factor
// min(1, c / (||G||_2 + 1e-6)) (Pascanu et al. 2013) and whether the update applies at all.
import {
  ConfigError,
  sumOfSquares,
  tf,
  type NamedTensorMap,
  type Tensor,
  type Variable,
} from '@moderoute/core';

/**
 * The gradients by parameter name, each checked to name a parameter of `params` and to have its
 * shape (ConfigError otherwise). The tensors stay owned by the caller.
 */
export function checkedGradients(
  params: ReadonlyMap<string, Variable>,
  grads: ReadonlyMap<string, Tensor> | NamedTensorMap,
): Map<string, Tensor> {
  const entries: [string, Tensor][] =
    grads instanceof Map
      ? [...(grads as ReadonlyMap<string, Tensor>).entries()]
      : Object.entries(grads as NamedTensorMap);
  const byName = new Map<string, Tensor>();
  for (const [name, g] of entries) {
    const p = params.get(name);
    if (p === undefined)
      throw new ConfigError(
        'grads',
        name,
        `a parameter name of this optimizer (${params.size} known)`,
      );
    if (!tf.util.arraysEqual(g.shape, p.shape))
      throw new ConfigError(
        `grads["${name}"].shape`,
        g.shape,
        `[${p.shape.join(', ')}] like the parameter`,
      );
    byName.set(name, g);
  }
  return byName;
}

/** ||G||_2 over every gradient (0 for none), read back once: it is logged and decides the update. */
export function globalGradNorm(byName: ReadonlyMap<string, Tensor>): number {
  if (byName.size === 0) return 0;
  // One own kernel over every gradient on wasm (core's sumOfSquares), two per gradient elsewhere.
  return tf.tidy(() => tf.sqrt(sumOfSquares([...byName.values()])).dataSync()[0] as number);
}
