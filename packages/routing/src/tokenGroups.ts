// flaxformer's token groups (google/flaxformer flaxformer/architectures/moe/moe_layers.py at
// 6254e11a, `_num_groups` and `_maybe_pad`): the batch's B * T tokens, flattened, are split into
// G groups of n = B T / G consecutive tokens, G the smallest count that is at least
// B T // max_group_size and E, divides B T and is a multiple of E; before that the layer pads the
// batch with zero tokens (whole sequences, or positions at the end of every sequence, whichever
// needs fewer) until B T is a multiple of E. Capacity group 'max-size' (CapacityPolicy) routes
// with these groups; padForGroups reproduces the padding.
import { ConfigError, tf, type Tensor3D } from '@moderoute/core';

/**
 * flaxformer's `_num_groups(num_tokens, max_group_size, num_experts, 1, strict_group_size)`:
 * the smallest G >= max(tokens // maxGroupSize, E) with tokens % G = 0 and G % E = 0 (searching
 * up to `tokens`). A ConfigError names `capacity.maxGroupSize` when none divides the tokens, or,
 * in strict mode, when the group size is not maxGroupSize.
 */
export function flaxformerNumGroups(
  tokens: number,
  maxGroupSize: number,
  numExperts: number,
  strict = false,
): number {
  const viable = (g: number) => tokens % g === 0 && g % numExperts === 0;
  let groups = Math.max(Math.floor(tokens / maxGroupSize), numExperts);
  while (groups < tokens && !viable(groups)) groups++;
  if (tokens % groups !== 0) {
    throw new ConfigError(
      'capacity.maxGroupSize',
      maxGroupSize,
      `a group layout of the ${tokens} tokens (batch x sequence) into a multiple of numExperts ` +
        `(${numExperts}) groups: pad the tokens to a multiple of ${numExperts} first ` +
        '(padForGroups, as flaxformer does)',
    );
  }
  const groupSize = tokens / groups;
  if (strict && groupSize !== maxGroupSize)
    throw new ConfigError(
      'capacity.maxGroupSize',
      maxGroupSize,
      `the group size, ${groupSize} for ${tokens} tokens and ${numExperts} experts ` +
        '(strictGroupSize is on)',
    );
  return groups;
}

/**
 * flaxformer's `_maybe_pad` padding of a [batch, seqLen] input for E experts: none when
 * batch * seqLen is a multiple of E; otherwise the fewest whole sequences (batchPadding) or the
 * fewest positions added to every sequence (seqPadding), the one adding fewer tokens (ties: the
 * sequence positions), so that the token count becomes a multiple of E.
 */
export function flaxformerPadding(
  batch: number,
  seqLen: number,
  numExperts: number,
): { readonly batchPadding: number; readonly seqPadding: number } {
  const tokens = batch * seqLen;
  if (tokens % numExperts === 0) return { batchPadding: 0, seqPadding: 0 };
  let batchPadding = 1;
  while ((tokens + batchPadding * seqLen) % numExperts !== 0) batchPadding++;
  let seqPadding = 1;
  while ((tokens + seqPadding * batch) % numExperts !== 0) seqPadding++;
  return seqPadding * batch > batchPadding * seqLen
    ? { batchPadding, seqPadding: 0 }
    : { batchPadding: 0, seqPadding };
}

/**
 * x float32[B, T, D] padded with zero tokens as flaxformerPadding says, to
 * float32[B + batchPadding, T + seqPadding, D]. flaxformer routes the padding like any token (it
 * takes capacity) and slices it off the output: route the padded input with no mask, then keep
 * the first B sequences and T positions.
 */
export function padForGroups(
  x: Tensor3D,
  numExperts: number,
): { readonly x: Tensor3D; readonly batchPadding: number; readonly seqPadding: number } {
  const [b, t] = x.shape;
  const { batchPadding, seqPadding } = flaxformerPadding(b, t, numExperts);
  const padded = tf.pad(x, [
    [0, batchPadding],
    [0, seqPadding],
    [0, 0],
  ]);
  return { x: padded, batchPadding, seqPadding };
}
