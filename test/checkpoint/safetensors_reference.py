"""Reads a safetensors file the way the reference implementation does (spec: 8-byte LE header
length, JSON header, F32 little-endian data) with numpy only, since the `safetensors` wheel is
not installable offline. Prints name, shape and sum of every tensor, and the metadata keys, as JSON."""
import json, struct, sys
import numpy as np

with open(sys.argv[1], 'rb') as f:
    raw = f.read()
(n,) = struct.unpack('<Q', raw[:8])
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
out = {'metadata': sorted(header.pop('__metadata__', {}).keys()), 'tensors': {}}
for name, info in header.items():
    assert info['dtype'] == 'F32'
    b, e = info['data_offsets']
    arr = np.frombuffer(data[b:e], dtype='<f4').reshape(info['shape'])
    out['tensors'][name] = {'shape': list(arr.shape), 'sum': float(arr.astype(np.float64).sum())}
print(json.dumps(out))
