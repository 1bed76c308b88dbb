"""The layers of docs/model-format.md ("Layers"): layer norm, GELU (sigmoid form), the MLP and
causal multi-head attention, over a batch with a key mask or one new token with a KV cache.
`p` maps a block's tensor names (without the `blocks.<i>.` prefix) to float32 tensors."""
import math

import torch

MASKED = -1e9  # added to the attention logits of keys a query may not see


def layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)  # biased variance
    return (x - mean) / torch.sqrt(var + eps) * gamma + beta


def gelu(x):
    return x * torch.sigmoid(1.702 * x)  # sigmoid form of GELU


def mlp(p, prefix, x):
    """gelu(x W1 + b1) W2 + b2, the MLP of a dense block and of every expert."""
    return gelu(x @ p[prefix + "fc1.w"] + p[prefix + "fc1.b"]) @ p[prefix + "fc2.w"] + p[prefix + "fc2.b"]


def ln(p, which, x):
    return layer_norm(x, p[which + ".gamma"], p[which + ".beta"])


def attention(p, x, heads, key_mask=None):
    """Causal self-attention of x [B, n, D]; key_mask [B, n] (True: a real key) or None."""
    b, n, d = x.shape
    dh = d // heads
    qkv = x @ p["attn.wQkv"] + p["attn.bQkv"]
    split = lambda z: z.reshape(b, n, heads, dh).transpose(1, 2)  # [B, H, n, Dh]
    q, k, v = split(qkv[..., :d]), split(qkv[..., d : 2 * d]), split(qkv[..., 2 * d :])
    logits = q @ k.transpose(-1, -2) / math.sqrt(dh)
    hidden = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)[None, None]
    if key_mask is not None:
        hidden = hidden | ~key_mask[:, None, None, :]
    logits = logits + hidden.float() * MASKED
    o = torch.softmax(logits, -1) @ v  # [B, H, n, Dh]
    return o.transpose(1, 2).reshape(b, n, d) @ p["attn.wOut"] + p["attn.bOut"]


def block_update(p, x, heads, key_mask=None):
    """(a, f) with a = Attn(LN1(x)) and f = a + MLP(LN2(x + a)), over x [B, n, D]."""
    a = attention(p, ln(p, "ln1", x), heads, key_mask)
    return a, a + mlp(p, "mlp.", ln(p, "ln2", x + a))


class KVCache:
    """Keys and values of the tokens that went through a block's attention, oldest first."""

    def __init__(self):
        self.keys, self.values = [], []

    def attend(self, p, x, heads):
        """Attn(x) for one new row x [D] at the end of the cached sequence (appending it)."""
        d = x.shape[-1]
        dh = d // heads
        qkv = x @ p["attn.wQkv"] + p["attn.bQkv"]
        self.keys.append(qkv[d : 2 * d])
        self.values.append(qkv[2 * d :])
        q = qkv[:d].reshape(heads, 1, dh)
        k = torch.stack(self.keys).reshape(-1, heads, dh).transpose(0, 1)  # [H, n, Dh]
        v = torch.stack(self.values).reshape(-1, heads, dh).transpose(0, 1)
        o = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1) @ v  # [H, 1, Dh]
        return o.reshape(d) @ p["attn.wOut"] + p["attn.bOut"]
