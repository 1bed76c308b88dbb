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
    share = math.ceil(n / e) if policy["ceilTokensPerExpert"] else n / e
    k_inside = k if policy["scaleByK"] and not policy["kAfterRounding"] else 1
    k_outside = k if policy["scaleByK"] and policy["kAfterRounding"] else 1
    c = rounded(f * share * k_inside, policy["rounding"]) * k_outside
    c = max(c, policy["minimum"])
    return math.ceil(c / policy["multipleOf"]) * policy["multipleOf"]
