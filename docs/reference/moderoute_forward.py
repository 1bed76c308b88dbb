"""Reference forward pass of a moderoute language model in PyTorch, written from
docs/model-format.md alone (files: safetensors_reader.py, capacity.py, routing.py, layers.py,
model.py). The test suite runs it against moderoute where PyTorch is installed
(test/pytorch-reference.spec.ts).

Usage:
  python3 moderoute_forward.py CHECKPOINT [--mode top-k|threshold|predictor|causal] [--decode] TOKEN ...
      prints the logits [T, V] of one sequence as JSON (--decode: token by token, KV cache)
  python3 moderoute_forward.py CHECKPOINT --requests < requests.json
      requests: [{"ids": [[...], ...], "mask": [[...], ...], "mode": ...} | {"decode": [...], "mode": ...}]
      prints one result per request: logits [B, T, V] (forward) or [T, V] (decode)
  python3 moderoute_forward.py --jobs < jobs.json
      jobs: [{"checkpoint": ..., "requests": [...]}]; prints per job its results, or {"error": ...}
CHECKPOINT is a checkpoint directory, or a run directory (its `latest` checkpoint).
"""
import json
import sys

import torch

from model import Decoder, Model


def run(model, request):
    mode = request.get("mode", "top-k" if "ids" in request else "causal")
    if "decode" in request:
        decoder = Decoder(model, mode, request.get("expertCapacity", "router"))
        return torch.stack([decoder.feed(token) for token in request["decode"]]).tolist()
    return model.forward(request["ids"], request.get("mask"), mode).tolist()


def job(spec):
    try:
        model = Model(spec["checkpoint"])
        return [run(model, r) for r in spec["requests"]]
    except (Exception, SystemExit) as error:
        return {"error": f"{type(error).__name__}: {error}"}


def main(argv):
    if argv == ["--jobs"]:
        return [job(spec) for spec in json.load(sys.stdin)]
    model = Model(argv[0])
    args = argv[1:]
    if args == ["--requests"]:
        return [run(model, r) for r in json.load(sys.stdin)]
    mode, decode, tokens = None, False, []
    while args:
        a = args.pop(0)
        if a == "--mode":
            mode = args.pop(0)
        elif a == "--decode":
            decode = True
        else:
            tokens.append(int(a))
    request = {"decode": tokens} if decode else {"ids": [tokens]}
    if mode is not None:
        request["mode"] = mode
    out = run(model, request)
    return out if decode else out[0]


if __name__ == "__main__":
    with torch.no_grad():
        print(json.dumps(main(sys.argv[1:])))
