"""The routers of docs/model-format.md ("Routers"), over detached float32 scores: which tokens
a Mixture-of-Depths stage selects, and which (token, expert, weight) assignments a token-choice or
expert-choice stage keeps. Each option of a router config is one small function. Tokens are flat
indices into a [M, D] matrix (M = B * T, row b * T + t); `valid` [M] marks real tokens.
"""
import math

import torch

from capacity import capacity, group_size
from layers import gelu


def best_first(candidates, score):
    """Candidates by descending score, ties to the lower index (every selection in moderoute)."""
    return sorted(candidates, key=lambda i: (-score(i), i))


# ---- Mixture-of-Depths (Raposo et al. 2024) --------------------------------------------------

GATES = {"identity": lambda r: r, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def mlp_chain(p, prefix, x):
    """The predictor MLP, layers read from the tensors: w1/b1, w2/b2, ... with gelu between."""
    i = 1
    while f"{prefix}w{i + 1}" in p:
        x = gelu(x @ p[f"{prefix}w{i}"] + p[f"{prefix}b{i}"])
        i += 1
    return (x @ p[f"{prefix}w{i}"] + p[f"{prefix}b{i}"])[:, 0]


def predictor_logit(p, x):
    """The MoD predictor's logit: its MLP plus the linear path 10 v . x (`predictor.linear`; a
    checkpoint written before the path existed has none: v = 0)."""
    out = mlp_chain(p, "predictor.", x)
    if "predictor.linear" in p:
        out = out + 10.0 * (x @ p["predictor.linear"])[:, 0]
    return out


def causal_rule(config, mode):
    """The rule a depth stage decides by: 'causal' means the router's own (its causalMode)."""
    if mode == "causal":
        return "predictor" if config["causalMode"] == "predictor" else "threshold"
    return mode


def depth_decisions(p, config, policy, x, valid, seq_len, mode):
    """MoD selection of x [M, D] (sequences of seq_len tokens): (selected [M] bool, r [M])."""
    r = (x @ p["weight"])[:, 0]
    rule = causal_rule(config, mode)
    if rule == "top-k":
        k = min(seq_len, capacity(policy, seq_len, 1))
        selected = torch.zeros(len(r), dtype=torch.bool)
        for start in range(0, len(r), seq_len):
            real = [i for i in range(start, start + seq_len) if valid[i]]
            for i in best_first(real, lambda i: r[i].item())[:k]:
                selected[i] = True
        return selected, r
    if rule == "threshold":
        # tau = threshold[0]; a router without the state (causalMode predictor or none) uses 0.
        tau = p["threshold"][0].item() if "threshold" in p else 0.0
        return valid & (r > tau), r
    if rule == "predictor":
        if "predictor.w1" not in p:
            raise SystemExit("mode predictor needs a router trained with causalMode 'predictor'")
        cut = p["predictor.threshold"][0].item()
        return valid & (predictor_logit(p, x) > cut), r
    raise SystemExit(f"unknown decision rule {mode}")


# ---- Token-choice (Switch, GShard, DeepSpeed, DeepSeek options) ------------------------------


def score_function(config, logits):
    """scoreFunction: softmax over experts (default) or elementwise sigmoid (DeepSeek-V3)."""
    return torch.softmax(logits, -1) if config["scoreFunction"] == "softmax" else torch.sigmoid(logits)


def selection_scores(config, p, scores):
    """What the top-K choice ranks: the scores plus the router's `selectionBias` b [E] where the
    checkpoint has one (DeepSeek-V3's auxiliary-loss-free balancing: selection only)."""
    return scores + p["selectionBias"] if "selectionBias" in p else scores


def allowed_experts(config, s):
    """expertGroups H / topKGroups Hk / groupScore: the experts of a token's Hk best groups."""
    e, h = len(s), config["expertGroups"]
    if h == 1:
        return list(range(e))
    size = e // h

    def group_score(g):
        top = sorted((s[i] for i in range(g * size, (g + 1) * size)), reverse=True)
        return top[0] if config["groupScore"] == "max" else top[0] + top[1]

    kept = best_first(range(h), group_score)[: config["topKGroups"]]
    return [i for i in range(e) if i // size in kept]


def choose_experts(config, sel):
    """Each token's top-K experts, best first, ties to the lower expert: int lists [M][K]."""
    rows = sel.tolist()
    return [best_first(allowed_experts(config, s), lambda i: s[i])[: config["topK"]] for s in rows]


def claim_order(config, group_tokens, choices, gates):
    """priority 'position' / 'score' and placement 'rank-major' / 'token-major': the order in
    which (token, choice rank) pairs claim an expert's slots."""
    tokens = list(group_tokens)
    if config["priority"] == "score":
        tokens = best_first(tokens, lambda t: gates[t][choices[t][0]])
    k = config["topK"]
    if config["placement"] == "rank-major":
        return [(t, r) for r in range(k) for t in tokens]
    return [(t, r) for t in tokens for r in range(k)]


def place(config, choices, valid, gates, n, cap):
    """Which choices each expert keeps, group by group (groups of n consecutive tokens):
    kept[M][K] booleans."""
    m, e, k = len(choices), config["numExperts"], config["topK"]
    kept = [[False] * k for _ in range(m)]
    for start in range(0, m, n):
        real = [t for t in range(start, start + n) if valid[t]]
        if config["priority"] == "probs":
            # Each expert keeps its C highest-scored assignments (ties to the lower position).
            for ex in range(e):
                wanting = [(t, r) for t in real for r in range(k) if choices[t][r] == ex]
                for t, r in sorted(wanting, key=lambda c: (-gates[c[0]][ex], c[0]))[:cap]:
                    kept[t][r] = True
            continue
        filled = [0] * e
        for t, r in claim_order(config, real, choices, gates):
            if filled[choices[t][r]] < cap:
                filled[choices[t][r]] += 1
                kept[t][r] = True
    return kept


def combine_weights(config, scores, choices, kept):
    """renormalize and routedScale: the weight of each kept choice, float32 [M, K]."""
    index = torch.tensor(choices, dtype=torch.int64)
    top = torch.gather(scores, 1, index)
    keep = torch.tensor(kept, dtype=torch.float32)
    mode = config["renormalize"]
    if mode == "before-drops":
        top = top / top.sum(1, keepdim=True)
    elif mode == "after-drops":
        top = top * keep
        top = top / torch.clamp(top.sum(1, keepdim=True), min=1.1920929e-7)
    if config["routedScale"] != 1:
        top = top * config["routedScale"]
    return top


def token_choice_route(p, config, policy, u, valid, seq_len):
    """Token-choice routing of u [M, D] over groups (evaluation): [(token, expert, weight)]."""
    if config.get("secondExpertPolicy", "all") == "random":
        raise SystemExit("secondExpertPolicy 'random' draws from moderoute's random streams")
    scores = score_function(config, u @ p["weight"])
    choices = choose_experts(config, selection_scores(config, p, scores))
    gates = scores.tolist()
    m, e = len(choices), config["numExperts"]
    n = group_size(policy, m, seq_len, e)
    if policy["dropless"]:
        loads = {}
        for t in range(m):
            if valid[t]:
                for ex in choices[t]:
                    loads[(t // n, ex)] = loads.get((t // n, ex), 0) + 1
        cap = max(loads.values(), default=0)
    else:
        cap = min(capacity(policy, n, e, config["topK"]), n)
    kept = place(config, choices, valid, gates, n, cap)
    weights = combine_weights(config, scores, choices, kept)
    return [
        (t, choices[t][r], weights[t, r])
        for t in range(m)
        for r in range(config["topK"])
        if kept[t][r]
    ]


class TokenChoiceSession:
    """Causal token-choice decisions of one sequence: token by token, each choice in preference
    order (token-major), kept while its expert has taken fewer than C tokens of the sequence,
    C = min(capacity(L), L) at L = capacityLength (the model's contextLength)."""

    def __init__(self, p, config, policy, length, dropless=False):
        if not (dropless or policy["dropless"]):
            if config["topK"] != 1 and config["placement"] != "token-major":
                raise SystemExit("causal token-choice with top-K > 1 needs placement 'token-major'")
            if config["priority"] != "position":
                raise SystemExit("causal token-choice with a finite capacity needs priority 'position'")
            self.cap = min(capacity(policy, length, config["numExperts"], config["topK"]), length)
        else:
            self.cap = math.inf
        self.p, self.config = p, config
        self.loads = [0] * config["numExperts"]

    def step(self, u):
        """u [n, D] of the next n tokens -> [(row, expert, weight)]."""
        c = self.config
        scores = score_function(c, u @ self.p["weight"])
        choices = choose_experts(c, selection_scores(c, self.p, scores))
        out = []
        for t, mine in enumerate(choices):
            kept = [ex for ex in mine if self.loads[ex] < self.cap]
            norm_over = mine if c["renormalize"] == "before-drops" else kept
            norm = 1.0
            if c["renormalize"] != "none":
                norm = sum(scores[t, ex].item() for ex in norm_over)
                if c["renormalize"] == "after-drops":
                    norm = max(norm, 1.1920929e-7)
            for ex in kept:
                out.append((t, ex, torch.tensor(c["routedScale"] * scores[t, ex].item() / norm)))
                self.loads[ex] += 1
        return out


# ---- Expert-choice (Zhou et al. 2022) ---------------------------------------------------------


def expert_choice_route(p, config, policy, u, valid, seq_len):
    """Each expert takes the top-C real tokens of each group by S = softmax(u W): its weight."""
    scores = torch.softmax(u @ p["weight"], -1)
    m, e = scores.shape
    n = group_size(policy, m, seq_len, e)
    cap = min(capacity(policy, n, e, 1), n)
    out = []
    for start in range(0, m, n):
        real = [t for t in range(start, start + n) if valid[t]]
        for ex in range(e):
            # slotOrder only orders an expert's buffer: the sum below does not depend on it.
            for t in best_first(real, lambda t: scores[t, ex].item())[:cap]:
                out.append((t, ex, scores[t, ex]))
    return out


EXPERT_ROUTERS = {"token-choice": token_choice_route, "expert-choice": expert_choice_route}
