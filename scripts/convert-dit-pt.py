#!/usr/bin/env python3
"""
PyTorch checkpoint (.pt / .pth) -> safetensors, for `hddm-node import` (hddm reads no pickles).

    /usr/bin/python3 scripts/convert-dit-pt.py DiT-XL-2-256x256.pt DiT-XL-2-256x256.safetensors
    hddm-node import --from dit DiT-XL-2-256x256.safetensors --out dit-xl2.safetensors

Reads facebookresearch/DiT's released weights (a plain state dict of EMA weights), DiT's own
training checkpoints ({"model", "ema", "opt", "args"}: the EMA weights are taken, as DiT's
sample.py does) and PixArt-alpha's ({"state_dict": ...}); tensor names are kept as they are,
every floating tensor is written as little-endian float32 (F16 and BF16 widened), anything else
(step counters, integer buffers) is left out and listed. Needs torch (Debian: python3-torch) and
numpy; the safetensors file is written with numpy alone, as the format is simple
(https://github.com/huggingface/safetensors: u64 header length, JSON header, raw data).
Loading uses torch.load(weights_only=True) where torch has it (1.13+), so the pickle cannot run code.
"""
import json
import struct
import sys

import numpy as np
import torch


def state_dict_of(loaded):
    """The weights inside a loaded checkpoint: EMA first, then the model, then the object itself."""
    if isinstance(loaded, dict):
        for key in ('ema', 'state_dict', 'model', 'module'):
            if isinstance(loaded.get(key), dict):
                return loaded[key], key
    return loaded, None


def load(path):
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except TypeError:       # torch < 1.13 has no weights_only
        return torch.load(path, map_location='cpu')


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {'__metadata__': metadata}, [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name].numpy().astype('<f4')).tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(tensors[name].shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, target = sys.argv[1], sys.argv[2]
    state, key = state_dict_of(load(source))
    tensors, skipped = {}, []
    for name, value in state.items():
        if torch.is_tensor(value) and value.is_floating_point():
            # DataParallel checkpoints prefix every name with "module.".
            tensors[name[7:] if name.startswith('module.') else name] = value.detach().to(torch.float32).contiguous()
        else:
            skipped.append(name)
    if not tensors:
        sys.exit(f'{source}: no floating-point tensors found')
    write_safetensors(target, tensors, {'source': source.split('/')[-1], 'converted_by': 'hddm scripts/convert-dit-pt.py'})
    values = sum(t.numel() for t in tensors.values())
    print(json.dumps({'out': target, 'from_key': key, 'tensors': len(tensors), 'values': values, 'skipped': skipped}))


if __name__ == '__main__':
    main()
