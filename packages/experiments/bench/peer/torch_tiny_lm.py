"""The PyTorch peer of `moderoute bench`: the bench config's decoder-only language model, dense
and Mixture-of-Depths, trained a few steps with AdamW; prints one JSON line with the median
milliseconds per training step of each, to set beside moderoute's own figures from the same run.

The model follows packages/experiments/src/bench/config.ts: vocabulary 256, width 128, 4 pre-norm blocks
of 4-head causal attention and a 4x GELU MLP, sequence 128, batch 8. The MoD variant routes every
other block (Raposo et al. 2024, section 3): a linear router scores each token, the top 12.5%
of each sequence (kept in causal order) go through the block, their update is scaled by the
router's score, and the other tokens pass on the residual stream unchanged. The optimizer is
AdamW with moderoute's defaults (betas 0.9 and 0.95, weight decay 0.1, gradients clipped to a
global norm of 1).

Set-up on Debian: apt-get install -y python3-torch libopenblas0-pthread (without the pthread
OpenBLAS, PyTorch falls back to the reference BLAS, about 10x slower). Run with Debian's
interpreter, which is the one python3-torch installs for:

    /usr/bin/python3 torch_tiny_lm.py [--threads 1] [--steps 6]

Output keys: torch, threads, steps, dense_ms_per_step, mod_ms_per_step, mod_over_dense.

With --serve it trains one step at a time when asked, so that `moderoute bench` interleaves its
steps with moderoute's (the protocol of packages/experiments/src/bench/peers/stepServer.ts): it
reads `hello`, `new dense|mod`, `step dense|mod` and `memory` lines on stdin and answers each with
one JSON line. After each step it sleeps SETTLE_S before answering, so that OpenBLAS's threads,
which spin for a while after a product, are idle again when moderoute's next step starts.
"""
import argparse
import json
import math
import resource
import statistics
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

VOCAB, WIDTH, LAYERS, HEADS, SEQ, BATCH, MLP_RATIO, CAPACITY = 256, 128, 4, 4, 128, 8, 4, 0.125


class Residual(nn.Module):
    """Attention then MLP, pre-norm; returns only the update to add to the residual stream."""

    def __init__(self):
        super().__init__()
        self.norm_attn = nn.LayerNorm(WIDTH)
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
        self.out = nn.Linear(WIDTH, WIDTH)
        self.norm_mlp = nn.LayerNorm(WIDTH)
        self.up = nn.Linear(WIDTH, MLP_RATIO * WIDTH)
        self.down = nn.Linear(MLP_RATIO * WIDTH, WIDTH)

    def update(self, x):
        batch, length, _ = x.shape
        head = WIDTH // HEADS
        # Shape: [B, T, 3D] -> 3 x [B, H, T, D/H]
        q, k, v = self.qkv(self.norm_attn(x)).reshape(batch, length, 3, HEADS, head).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-2, -1) / math.sqrt(head)
        future = torch.ones(length, length, dtype=torch.bool).triu(1)
        attended = scores.masked_fill(future, float('-inf')).softmax(-1) @ v
        # Shape: [B, H, T, D/H] -> [B, T, D]
        attn = self.out(attended.transpose(1, 2).reshape(batch, length, WIDTH))
        mlp = self.down(F.gelu(self.up(self.norm_mlp(x + attn))))
        return attn + mlp


class DenseBlock(Residual):
    def forward(self, x):
        return x + self.update(x)


class MixtureOfDepthsBlock(Residual):
    """Expert-choice routing over the sequence: the block processes the top-k tokens only."""

    def __init__(self):
        super().__init__()
        self.router = nn.Linear(WIDTH, 1, bias=False)

    def forward(self, x):
        k = max(1, int(SEQ * CAPACITY))
        scores = self.router(x).squeeze(-1)  # [B, T]
        chosen = scores.topk(k, dim=1).indices.sort(dim=1).values  # [B, k], causal order
        gather = chosen.unsqueeze(-1).expand(-1, -1, WIDTH)  # [B, k, D]
        selected = x.gather(1, gather)
        update = self.update(selected) * scores.gather(1, chosen).unsqueeze(-1)
        return x.scatter_add(1, gather, update)


class TinyLanguageModel(nn.Module):
    def __init__(self, routed):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, WIDTH)
        self.position = nn.Parameter(torch.zeros(SEQ, WIDTH))
        self.blocks = nn.ModuleList(
            MixtureOfDepthsBlock() if routed and i % 2 == 1 else DenseBlock() for i in range(LAYERS)
        )
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB)

    def forward(self, tokens):
        x = self.embed(tokens) + self.position
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


SETTLE_S = 0.15


class Trained:
    """A model, its optimizer and one batch: `step` trains one step and returns its seconds."""

    def __init__(self, routed, generator):
        self.model = TinyLanguageModel(routed)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
        self.inputs = torch.randint(0, VOCAB, (BATCH, SEQ), generator=generator)
        self.targets = torch.randint(0, VOCAB, (BATCH, SEQ), generator=generator)

    def step(self):
        start = time.perf_counter()
        loss = F.cross_entropy(self.model(self.inputs).reshape(-1, VOCAB), self.targets.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        return time.perf_counter() - start


def median_step_ms(routed, steps, generator):
    trained = Trained(routed, generator)
    # The first two steps warm up allocators and kernels.
    times = [trained.step() for _ in range(steps + 2)]
    return round(1000 * statistics.median(times[2:]), 1)


def serve(args):
    """The step server of `moderoute bench` (see the top of this file)."""
    generator = torch.Generator().manual_seed(0)
    models = {}
    for line in sys.stdin:
        words = line.split()
        try:
            if words == ['hello']:
                answer = {'torch': torch.__version__, 'threads': args.threads}
            elif len(words) == 2 and words[0] == 'new' and words[1] in ('dense', 'mod'):
                models[words[1]] = Trained(words[1] == 'mod', generator)
                answer = {'ok': True}
            elif len(words) == 2 and words[0] == 'step' and words[1] in models:
                ms = 1000 * models[words[1]].step()
                time.sleep(SETTLE_S)
                answer = {'ms': round(ms, 2)}
            elif words == ['memory']:
                answer = {'peakRssMb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            else:
                answer = {'error': 'unknown request: ' + line.strip()}
        except Exception as error:  # the bench reports it and goes on without the peer
            answer = {'error': repr(error)}
        print(json.dumps(answer), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--threads', type=int, default=1, help='torch intra-op threads (1 is fastest on 2 cores; OpenBLAS keeps its own)')
    parser.add_argument('--steps', type=int, default=6, help='timed steps per model, after 2 warm-up steps')
    parser.add_argument('--serve', action='store_true', help='answer step requests on stdin (moderoute bench)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.serve:
        serve(args)
        return
    generator = torch.Generator().manual_seed(0)
    result = {'torch': torch.__version__, 'threads': args.threads, 'steps': args.steps}
    result['dense_ms_per_step'] = median_step_ms(False, args.steps, generator)
    result['mod_ms_per_step'] = median_step_ms(True, args.steps, generator)
    result['mod_over_dense'] = round(result['mod_ms_per_step'] / result['dense_ms_per_step'], 3)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
