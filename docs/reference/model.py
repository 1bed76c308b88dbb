"""The forward pass of docs/model-format.md over a batch with padding, under top-k or a causal
rule, and token-by-token decoding with a KV cache. The config read is config.json's "resolved"
section: every layer's kind, router configs and capacities written out, no default needed."""
import json
import os

import torch

from layers import KVCache, attention, block_update, layer_norm, ln, mlp
from routing import EXPERT_ROUTERS, GATES, TokenChoiceSession, depth_decisions
from safetensors_reader import load_safetensors


def checkpoint_dir(path):
    """A checkpoint directory, or a run directory (its checkpoints/latest pointer names one)."""
    for root in (os.path.join(path, "checkpoints"), path):
        pointer = os.path.join(root, "latest")
        if not os.path.exists(os.path.join(path, "config.json")) and os.path.exists(pointer):
            with open(pointer) as f:
                return os.path.join(root, f.read().strip())
    return path


def scoped(tensors, prefix):
    return {name[len(prefix) :]: t for name, t in tensors.items() if name.startswith(prefix)}


class Layer:
    """One block: its resolved spec, its tensors and its routers' tensors (routers.<r>.)."""

    def __init__(self, index, spec, tensors, heads):
        self.kind, self.spec, self.heads = spec["kind"], spec, heads
        self.p = scoped(tensors, f"blocks.{index}.")
        self.depth = spec.get("depthRouter")  # {name, config, capacity} or absent
        self.expert = spec.get("expertRouter")
        # Router r = 0 is the block's only router, or the depth router of a staged block.
        self.depth_p = scoped(self.p, "routers.0.")
        self.expert_p = scoped(self.p, "routers.1." if self.kind == "mode-staged" else "routers.0.")

    def gate(self, r):
        return GATES[self.depth["config"]["gate"]](r)

    def experts(self, u, assignments):
        """sum over assignments (token, expert, weight) of weight * Expert_e(u[token]), [M, D];
        experts e >= numExperts are integrated MoDE's no-ops and add nothing."""
        out = torch.zeros_like(u)
        for ex in range(self.spec["numExperts"]):
            mine = [(t, w) for t, e, w in assignments if e == ex]
            if mine:
                rows = torch.tensor([t for t, _ in mine])
                weights = torch.stack([torch.as_tensor(w, dtype=torch.float32) for _, w in mine])
                out.index_add_(0, rows, weights[:, None] * mlp(self.p, f"experts.{ex}.", u[rows]))
        return out

    def shared(self, u):
        out = torch.zeros_like(u)
        for s in range(self.spec["numSharedExperts"]):
            out = out + mlp(self.p, f"shared.{s}.", u)
        return out

    def expert_stage(self, u, valid, mode, context_length):
        """The expert stage over u [B, n, D] (valid [B, n]): sum of weighted expert outputs."""
        b, n, d = u.shape
        flat, valid_flat = u.reshape(b * n, d), valid.reshape(b * n)
        name, config, policy = self.expert["name"], self.expert["config"], self.expert["capacity"]
        if name not in EXPERT_ROUTERS:
            raise SystemExit(f"router {name} is not one of the reference's ({', '.join(EXPERT_ROUTERS)})")
        if mode != "top-k" and name == "token-choice":
            # A causal rule: one session per sequence over its real tokens, capacity at contextLength.
            assignments = []
            for row in range(b):
                rows = [row * n + t for t in range(n) if valid_flat[row * n + t]]
                if rows:
                    session = TokenChoiceSession(self.expert_p, config, policy, context_length)
                    assignments += [(rows[i], e, w) for i, e, w in session.step(flat[rows])]
        else:
            assignments = EXPERT_ROUTERS[name](self.expert_p, config, policy, flat, valid_flat, n)
        return self.experts(flat, assignments).reshape(b, n, d)

    def select(self, x, valid, mode):
        """The depth stage: (selected [B, T] bool, r [B, T])."""
        b, t, d = x.shape
        config, policy = self.depth["config"], self.depth["capacity"]
        if self.depth["name"] != "mixture-of-depths":
            raise SystemExit(f"depth router {self.depth['name']} is not the reference's")
        sel, r = depth_decisions(self.depth_p, config, policy, x.reshape(b * t, d), valid.reshape(b * t), t, mode)
        return sel.reshape(b, t), r.reshape(b, t)

    def forward(self, x, valid, mode, context_length):
        """x [B, T, D] -> the block's output [B, T, D]."""
        if self.kind == "dense":
            return x + block_update(self.p, x, self.heads, valid)[1]
        if self.kind in ("moe", "mode-integrated"):
            h = x + attention(self.p, ln(self.p, "ln1", x), self.heads, valid)
            u = ln(self.p, "ln2", h)
            return h + self.expert_stage(u, valid, mode, context_length) + self.shared(u)
        sel, r = self.select(x, valid, mode)
        rows = [torch.nonzero(s)[:, 0].tolist() for s in sel]
        width = max(len(p) for p in rows)
        if width == 0:
            return x
        # Pack the selected tokens of each sequence, in position order, into [B, S, D].
        sub = torch.zeros(x.shape[0], width, x.shape[2])
        sub_valid = torch.zeros(x.shape[0], width, dtype=torch.bool)
        for b, positions in enumerate(rows):
            sub[b, : len(positions)] = x[b, positions]
            sub_valid[b, : len(positions)] = True
        if self.kind == "mod":
            update = block_update(self.p, sub, self.heads, sub_valid)[1]
        else:  # mode-staged
            a = attention(self.p, ln(self.p, "ln1", sub), self.heads, sub_valid)
            u = ln(self.p, "ln2", sub + a)
            update = a + self.expert_stage(u, sub_valid, mode, context_length)
        out = x.clone()
        for b, positions in enumerate(rows):
            out[b, positions] = x[b, positions] + self.gate(r[b, positions])[:, None] * update[b, : len(positions)]
        return out


class Model:
    def __init__(self, path):
        path = checkpoint_dir(path)
        with open(os.path.join(path, "config.json")) as f:
            saved = json.load(f)
        if "resolved" not in saved:
            raise SystemExit(
                f"{path}/config.json has no \"resolved\" section (written before it existed): load "
                "the checkpoint with moderoute and save it again, or see docs/model-format.md"
            )
        self.config = c = saved["resolved"]
        self.p = load_safetensors(os.path.join(path, "model.safetensors"))
        self.context_length = c["contextLength"]
        self.layers = [Layer(i, spec, self.p, c["numHeads"]) for i, spec in enumerate(c["schedule"]["layers"])]

    def embed(self, ids, start=0):
        return self.p["embed.tokens"][ids] + self.p["embed.positions"][start : start + ids.shape[-1]]

    def head(self, h):
        z = layer_norm(h, self.p["lnF.gamma"], self.p["lnF.beta"])
        return z @ self.p["head.w"] + self.p["head.b"] if "head.w" in self.p else z @ self.p["embed.tokens"].T

    def forward(self, ids, mask=None, mode="top-k"):
        """ids [B, T] (mask [B, T]: 1 real, 0 padding) -> logits [B, T, V]."""
        ids = torch.as_tensor(ids)
        valid = torch.ones(ids.shape, dtype=torch.bool) if mask is None else torch.as_tensor(mask) != 0
        h = self.embed(ids)
        for layer in self.layers:
            h = layer.forward(h, valid, mode, self.context_length)
        return self.head(h)


class Decoder:
    """Token-by-token decoding of one sequence: each block keeps the keys and values of the tokens
    its attention saw, and its expert stage a causal session (running per-expert loads)."""

    def __init__(self, model, mode="causal", expert_capacity="router"):
        if mode == "top-k":
            raise SystemExit("decoding takes a causal rule: top-k over one token routes every token")
        self.model, self.mode, self.position = model, mode, 0
        self.caches = [KVCache() for _ in model.layers]
        self.sessions = []
        for layer in model.layers:
            session = None
            if layer.expert is not None:
                if layer.expert["name"] != "token-choice":
                    raise SystemExit(f"decoding refuses the {layer.expert['name']} router (not causal)")
                session = TokenChoiceSession(
                    layer.expert_p, layer.expert["config"], layer.expert["capacity"],
                    model.context_length, dropless=expert_capacity == "dropless",
                )
            self.sessions.append(session)

    def step(self, layer, cache, session, x):
        p, heads = layer.p, layer.heads
        if layer.kind in ("dense", "mod", "mode-staged"):
            g = 1.0
            if layer.kind != "dense":
                sel, r = layer.select(x[None, None], torch.ones(1, 1, dtype=torch.bool), self.mode)
                if not sel[0, 0]:
                    return x  # skipped: nothing enters this block's cache
                g = layer.gate(r[0, 0])
            a = cache.attend(p, ln(p, "ln1", x), heads)
            u = ln(p, "ln2", x + a)
            m = mlp(p, "mlp.", u) if layer.kind != "mode-staged" else layer.experts(u[None], session.step(u[None]))[0]
            return x + g * (a + m)
        h = x + cache.attend(p, ln(p, "ln1", x), heads)
        u = ln(p, "ln2", h)
        return h + layer.experts(u[None], session.step(u[None]))[0] + layer.shared(u)

    def feed(self, token):
        """Logits [V] of the next token after `token`."""
        x = self.model.embed(torch.tensor([token]), self.position)[0]
        self.position += 1
        for layer, cache, session in zip(self.model.layers, self.caches, self.sessions):
            x = self.step(layer, cache, session, x)
        return self.model.head(x)
