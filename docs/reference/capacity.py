"""Capacity (docs/model-format.md, "Capacity"): how many tokens an expert, or a
Mixture-of-Depths stage, takes per group, from the resolved CapacityPolicy config of a block's
router spec (config.json's "resolved" section)."""
import math

GUARD = 1e-9  # relative guard of floor and ceil: 0.57 * 100 floors to 57, not 56


def rounded(x, rounding):
    if rounding == "floor":
        return math.floor(x + GUARD * max(1.0, abs(x)))
    if rounding == "ceil":
        return math.ceil(x - GUARD * max(1.0, abs(x)))
    return round(x)  # Python's round: to nearest, ties to even


def capacity(policy, n, e, k=1, training=False):
    """The formula's capacity per expert per group of n tokens, E experts, K choices per token
    (before the clamp to n, which the callers apply; `dropless` is the callers' business)."""
    f = policy["trainFactor"] if training else policy["evalFactor"]
    k_share = k if policy["scaleByK"] and policy.get("kInShare", False) else 1  # MaxText
    share = math.ceil(n * k_share / e) if policy["ceilTokensPerExpert"] else n * k_share / e
    in_share = policy.get("kInShare", False)
    k_inside = k if policy["scaleByK"] and not policy["kAfterRounding"] and not in_share else 1
    k_outside = k if policy["scaleByK"] and policy["kAfterRounding"] else 1
    c = rounded(f * share * k_inside, policy["rounding"]) * k_outside
    c = max(c, policy["minimum"])
    return math.ceil(c / policy["multipleOf"]) * policy["multipleOf"]


def flaxformer_num_groups(tokens, max_group_size, e, strict):
    """flaxformer's _num_groups: the smallest G >= max(tokens // max_group_size, E) that divides
    the tokens and is a multiple of E."""
    g = max(tokens // max_group_size, e)
    while g < tokens and not (tokens % g == 0 and g % e == 0):
        g += 1
    if tokens % g != 0 or (strict and tokens // g != max_group_size):
        raise SystemExit(f"no flaxformer group layout of {tokens} tokens for {e} experts")
    return g


def group_size(policy, m, seq_len, e):
    """n, the tokens of a capacity group among the m tokens routed (sequences of seq_len)."""
    if policy["group"] == "sequence":
        return seq_len
    if policy["group"] == "batch":
        return m
    strict = policy.get("strictGroupSize", False)
    return m // flaxformer_num_groups(m, policy["maxGroupSize"], e, strict)  # 'max-size'
