"""Reference forward pass of a moderoute language model in PyTorch, written from
docs/model-format.md alone: loads a checkpoint's model.safetensors and config.json and prints
the logits of the given byte tokens as JSON. It covers dense and Mixture-of-Depths blocks (top-k
routing, as in training); the test suite runs it against moderoute where PyTorch is installed
(test/pytorch-reference.spec.ts).

Usage: python3 moderoute_forward.py CHECKPOINT_DIR TOKEN [TOKEN ...]
"""
import json
import math
import sys

import numpy as np
import torch

DTYPES = {"F32": np.float32, "I32": np.int32}


def load_safetensors(path):
    """The safetensors format: u64 little-endian header size, JSON header, raw little-endian data."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[base + start : base + end], dtype=DTYPES[info["dtype"]])
        tensors[name] = torch.from_numpy(array.reshape(info["shape"]).copy())
    return tensors


def layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)  # biased variance
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta


def gelu(x):
    return x * torch.sigmoid(1.702 * x)  # sigmoid form of GELU


def attention(x, p, prefix, heads):
    """Causal multi-head self-attention over x [T, D]."""
    t, d = x.shape
    dh = d // heads
    qkv = x @ p[prefix + "wQkv"] + p[prefix + "bQkv"]
    q, k, v = qkv[:, :d], qkv[:, d : 2 * d], qkv[:, 2 * d :]
    split = lambda z: z.reshape(t, heads, dh).transpose(0, 1)  # [H, T, Dh]
    scores = split(q) @ split(k).transpose(1, 2) / math.sqrt(dh)
    later = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
    scores = scores.masked_fill(later, -1e9)
    o = torch.softmax(scores, -1) @ split(v)  # [H, T, Dh]
    return o.transpose(0, 1).reshape(t, d) @ p[prefix + "wOut"] + p[prefix + "bOut"]


def block_update(x, p, prefix, heads):
    """f(x) = a + MLP(LN2(x + a)), a = Attn(LN1(x)): the block is x + f(x)."""
    a = attention(layer_norm(x, p[prefix + "ln1.gamma"], p[prefix + "ln1.beta"]), p, prefix + "attn.", heads)
    h = x + a
    u = layer_norm(h, p[prefix + "ln2.gamma"], p[prefix + "ln2.beta"])
    m = gelu(u @ p[prefix + "mlp.fc1.w"] + p[prefix + "mlp.fc1.b"]) @ p[prefix + "mlp.fc2.w"] + p[prefix + "mlp.fc2.b"]
    return a + m


def resolve_blocks(cfg):
    """The block spec of every layer: schedule entry, under per-kind defaults, under overrides."""
    schedule = cfg.get("schedule", {"pattern": ["dense"]})
    n = cfg.get("numLayers", 4)
    entries = [schedule["pattern"][i % len(schedule["pattern"])] for i in range(n)] if "pattern" in schedule else schedule["layers"]
    specs = []
    for i, entry in enumerate(entries):
        base = {"kind": entry} if isinstance(entry, str) else dict(entry)
        override = cfg.get("overrides", {}).get(str(i), {})
        kind = override.get("kind", base["kind"])
        specs.append({**cfg.get("blockDefaults", {}).get(kind, {}), **base, **override, "kind": kind})
    return specs


def forward(checkpoint, ids):
    p = load_safetensors(checkpoint + "/model.safetensors")
    cfg = json.load(open(checkpoint + "/config.json"))["model"]
    heads = cfg.get("numHeads", 4)
    t = len(ids)
    x = p["embed.tokens"][torch.tensor(ids)] + p["embed.positions"][:t]
    for i, spec in enumerate(resolve_blocks(cfg)):
        prefix = f"blocks.{i}."
        if spec["kind"] == "dense":
            x = x + block_update(x, p, prefix, heads)
        elif spec["kind"] == "mod":
            router = spec.get("depthRouter", {})
            rcfg = router.get("config", {}) if isinstance(router, dict) else {}
            capacity = rcfg.get("capacity", 0.125)
            gate = {"identity": lambda r: r, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[rcfg.get("gate", "identity")]
            r = (x @ p[prefix + "routers.0.weight"])[:, 0]  # one scalar per token
            k = min(t, max(1, math.floor(capacity * t)))
            # Top-k by r, ties to the lower position, kept in ascending position order.
            order = sorted(range(t), key=lambda j: (-r[j].item(), j))[:k]
            selected = torch.tensor(sorted(order))
            f = block_update(x[selected], p, prefix, heads)  # attention among the selected only
            x = x.clone()
            x[selected] = x[selected] + gate(r[selected])[:, None] * f
        else:
            raise SystemExit(f"block kind {spec['kind']} is described in docs/model-format.md but not in this reference script")
    z = layer_norm(x, p["lnF.gamma"], p["lnF.beta"])
    return z @ p["head.w"] + p["head.b"] if "head.w" in p else z @ p["embed.tokens"].T


if __name__ == "__main__":
    with torch.no_grad():
        logits = forward(sys.argv[1], [int(a) for a in sys.argv[2:]])
    print(json.dumps(logits.tolist()))
