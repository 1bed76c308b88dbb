"""The safetensors format (https://github.com/huggingface/safetensors): an unsigned 64-bit
little-endian header size N, N bytes of JSON header {name: {dtype, shape, data_offsets}}, then the
raw little-endian row-major data. Every dtype of the format is read; floating tensors become
torch.float32 (moderoute computes in float32), integer tensors torch.int64, BOOL torch.bool.
"""
import json

import numpy as np
import torch

# dtype name -> (numpy dtype of the stored bytes, kind)
DTYPES = {
    "F64": ("<f8", "float"),
    "F32": ("<f4", "float"),
    "F16": ("<f2", "float"),
    "BF16": ("<u2", "bfloat16"),  # the upper 16 bits of a float32
    "I64": ("<i8", "int"),
    "I32": ("<i4", "int"),
    "I16": ("<i2", "int"),
    "I8": ("i1", "int"),
    "U64": ("<u8", "int"),
    "U32": ("<u4", "int"),
    "U16": ("<u2", "int"),
    "U8": ("u1", "int"),
    "BOOL": ("u1", "bool"),
}


def decode(raw, dtype, shape):
    """One tensor's bytes as a torch tensor (float32, int64 or bool)."""
    if dtype not in DTYPES:
        raise SystemExit(f"safetensors dtype {dtype} is not one this reader knows ({', '.join(DTYPES)})")
    stored, kind = DTYPES[dtype]
    array = np.frombuffer(raw, dtype=np.dtype(stored)).reshape(shape)
    if kind == "bfloat16":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    if kind in ("float", "bfloat16"):
        return torch.from_numpy(array.astype(np.float32))
    if kind == "bool":
        return torch.from_numpy(array != 0)
    return torch.from_numpy(array.astype(np.int64))


def load_safetensors(path):
    """{name: tensor} of a .safetensors file (the __metadata__ entry is skipped)."""
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
        tensors[name] = decode(data[base + start : base + end], info["dtype"], info["shape"])
    return tensors
