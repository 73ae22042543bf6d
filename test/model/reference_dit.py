#!/usr/bin/env python3
"""
A small PyTorch DiT with the module names and forward pass of facebookresearch/DiT's models.py
(Peebles & Xie, 2023), written for hddm's import tests: random weights (every layer non-zero,
unlike DiT's zero-initialised modulation and output), saved as safetensors in DiT's state-dict
layout or in diffusers' DiTTransformer2DModel layout, plus test cases (x, t, y) and the model's
outputs. With --layout diffusers the forward pass is diffusers' port: time frequencies
exp(-ln(1e4) i / (half - 1)) and the MLP LayerNorm at eps 1e-5.

  python3 reference_dit.py --out DIR [--layout dit|diffusers] [--input-size 8] [--channels 4]
      [--patch 2] [--hidden 64] [--depth 2] [--heads 4] [--classes 10] [--no-sigma] [--tie-adaln] [--seed 0]
writes DIR/weights.safetensors and DIR/cases.safetensors (x [N, C, H, W], t [N], y [N], out).
"""
import argparse
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def sincos_positions(dim, grid):
    """DiT's get_2d_sincos_pos_embed: [column half | row half], each [sin | cos], float64."""
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4))

    def one_d(pos):
        out = np.einsum('m,d->md', pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    rows, cols = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64), indexing='ij')
    return np.concatenate([one_d(cols), one_d(rows)], axis=1)


class TimeEmbedder(nn.Module):
    def __init__(self, hidden, shift):
        super().__init__()
        self.shift = shift
        self.mlp = nn.Sequential(nn.Linear(256, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t):
        half = 128
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / (half - self.shift))
        args = t[:, None].float() * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class Attention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x):
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * (D // self.heads) ** -0.5
        return self.proj((attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, N, D))


class Mlp(nn.Module):
    def __init__(self, hidden, ratio):
        super().__init__()
        self.fc1 = nn.Linear(hidden, ratio * hidden)
        self.fc2 = nn.Linear(ratio * hidden, hidden)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate='tanh'))


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Block(nn.Module):
    def __init__(self, hidden, heads, mlp_eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden, heads)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=mlp_eps)
        self.mlp = Mlp(hidden, 4)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 6 * hidden))

    def forward(self, x, c):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))


class FinalLayer(nn.Module):
    def __init__(self, hidden, patch, out_channels):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden, patch * patch * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class PatchEmbed(nn.Module):
    def __init__(self, channels, hidden, patch):
        super().__init__()
        self.proj = nn.Conv2d(channels, hidden, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class LabelEmbedder(nn.Module):
    def __init__(self, classes, hidden):
        super().__init__()
        self.embedding_table = nn.Embedding(classes + 1, hidden)

    def forward(self, y):
        return self.embedding_table(y)


class DiT(nn.Module):
    def __init__(self, a, shift, mlp_eps):
        super().__init__()
        self.patch, self.out_channels = a.patch, a.channels * (1 if a.no_sigma else 2)
        self.x_embedder = PatchEmbed(a.channels, a.hidden, a.patch)
        self.t_embedder = TimeEmbedder(a.hidden, shift)
        self.y_embedder = LabelEmbedder(a.classes, a.hidden)
        grid = a.input_size // a.patch
        positions = torch.from_numpy(sincos_positions(a.hidden, grid)).float().unsqueeze(0)
        self.pos_embed = nn.Parameter(positions, requires_grad=False)
        self.blocks = nn.ModuleList([Block(a.hidden, a.heads, mlp_eps) for _ in range(a.depth)])
        self.final_layer = FinalLayer(a.hidden, a.patch, self.out_channels)

    def forward(self, x, t, y):
        h = self.x_embedder(x) + self.pos_embed                       # [N, T, D]
        c = self.t_embedder(t) + self.y_embedder(y)                   # [N, D]
        for block in self.blocks:
            h = block(h, c)
        h = self.final_layer(h, c)                                    # [N, T, p*p*C']
        g, p = int(h.shape[1] ** 0.5), self.patch
        h = h.reshape(h.shape[0], g, g, p, p, self.out_channels)
        return torch.einsum('nhwpqc->nchpwq', h).reshape(h.shape[0], self.out_channels, g * p, g * p)


def diffusers_names(state, depth):
    """DiT's state dict under diffusers' DiTTransformer2DModel names (q, k, v apart; the time and
    label embedders copied into every block, as diffusers' conversion script does)."""
    out = {'pos_embed.proj.weight': state['x_embedder.proj.weight'], 'pos_embed.proj.bias': state['x_embedder.proj.bias']}
    for b in range(depth):
        at, to = f'blocks.{b}', f'transformer_blocks.{b}'
        emb = f'{to}.norm1.emb'
        for i, n in ((0, 'linear_1'), (2, 'linear_2')):
            for kind in ('weight', 'bias'):
                out[f'{emb}.timestep_embedder.{n}.{kind}'] = state[f't_embedder.mlp.{i}.{kind}']
        out[f'{emb}.class_embedder.embedding_table.weight'] = state['y_embedder.embedding_table.weight']
        for kind in ('weight', 'bias'):
            q, k, v = state[f'{at}.attn.qkv.{kind}'].chunk(3, dim=0)
            out[f'{to}.attn1.to_q.{kind}'], out[f'{to}.attn1.to_k.{kind}'], out[f'{to}.attn1.to_v.{kind}'] = q, k, v
            out[f'{to}.attn1.to_out.0.{kind}'] = state[f'{at}.attn.proj.{kind}']
            out[f'{to}.norm1.linear.{kind}'] = state[f'{at}.adaLN_modulation.1.{kind}']
            out[f'{to}.ff.net.0.proj.{kind}'] = state[f'{at}.mlp.fc1.{kind}']
            out[f'{to}.ff.net.2.{kind}'] = state[f'{at}.mlp.fc2.{kind}']
    for kind in ('weight', 'bias'):
        out[f'proj_out_1.{kind}'] = state[f'final_layer.adaLN_modulation.1.{kind}']
        out[f'proj_out_2.{kind}'] = state[f'final_layer.linear.{kind}']
    return out


def write_safetensors(path, tensors):
    """The safetensors format with numpy alone: [u64 header length][JSON header][F32 data], each
    tensor's bytes made as it is written (a DiT-XL/2 would otherwise be held twice)."""
    header, offset = {}, 0
    for name in sorted(tensors):
        size = 4 * tensors[name].numel()
        header[name] = {'dtype': 'F32', 'shape': list(tensors[name].shape), 'data_offsets': [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text)
        for name in sorted(tensors):
            f.write(np.ascontiguousarray(tensors[name].detach().cpu().numpy().astype('<f4')).tobytes())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--out', required=True)
    parser.add_argument('--layout', choices=['dit', 'diffusers'], default='dit')
    for name, default in (('input-size', 8), ('channels', 4), ('patch', 2), ('hidden', 64), ('depth', 2),
                          ('heads', 4), ('classes', 10), ('seed', 0), ('cases', 4)):
        parser.add_argument(f'--{name}', type=int, default=default)
    parser.add_argument('--no-sigma', action='store_true')
    # Every block's modulation MLP a copy of block 0's: a DiT that AdaLN-Single represents exactly.
    parser.add_argument('--tie-adaln', action='store_true')
    # Also DIR/weights.pt: the state dict as torch.save writes it (DiT's released .pt files).
    parser.add_argument('--pt', action='store_true')
    a = parser.parse_args()
    torch.manual_seed(a.seed)
    diffusers = a.layout == 'diffusers'
    model = DiT(a, shift=1 if diffusers else 0, mlp_eps=1e-5 if diffusers else 1e-6).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == 'pos_embed':
                continue
            # Fan-in scaled weights keep activations O(1); biases and tables non-zero everywhere.
            std = 1 / math.sqrt(p[0].numel()) if p.dim() >= 2 and 'embedding_table' not in name else 0.3
            p.normal_(0, std)
        if a.tie_adaln:
            for block in model.blocks[1:]:
                block.adaLN_modulation.load_state_dict(model.blocks[0].adaLN_modulation.state_dict())
        n = a.cases
        x = torch.randn(n, a.channels, a.input_size, a.input_size)
        t = torch.tensor([0.0, 17.0, 500.0, 999.0][:n] + [float(i * 97 % 1000) for i in range(4, n)])
        y = torch.tensor([i * 7 % (a.classes + 1) for i in range(n)])   # includes the null label when n > classes
        y[-1] = a.classes
        out = model(x, t, y)
    state = dict(model.state_dict())
    if diffusers:
        state = diffusers_names(state, a.depth)
    write_safetensors(f'{a.out}/weights.safetensors', state)
    if a.pt:
        torch.save(state, f'{a.out}/weights.pt')
    write_safetensors(f'{a.out}/cases.safetensors', {'x': x, 't': t, 'y': y.float(), 'out': out})


if __name__ == '__main__':
    main()
