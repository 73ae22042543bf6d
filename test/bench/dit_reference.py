"""PyTorch twin of hddm's DiT expert (src/model/dit.ts, AdaLN-Single) for the training-step
benchmark (test/bench/train-step.ts). Same shapes and ops: patch embedding, sin-cos positions,
time MLP, one global t_block, per-block scale-shift tables, self-attention, cross-attention to
prompt tokens, GELU-tanh MLP, final AdaLN layer; flow-matching loss, gradient clipping at norm 1,
AdamW. Prints one JSON line: {"msPerStep", "steps", "loss", "peakRssMB"}.

Run with Debian's python3-torch (the pyenv python on PATH does not see it):
    /usr/bin/python3 test/bench/dit_reference.py --preset small --batch 64 --steps 5
One torch thread (OpenBLAS still uses its own threads): faster here than torch threads = 2.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    # imageSize, channels, patch, hidden, depth, heads, mlpRatio, promptTokens, vocab, textDim
    "tiny": (28, 1, 7, 32, 2, 2, 4, 4, 16, 16),
    "small": (28, 1, 4, 128, 4, 4, 4, 4, 16, 64),
    "medium": (28, 1, 4, 192, 6, 6, 4, 4, 16, 64),
}


def modulate(x, shift, scale):
    return F.layer_norm(x, x.shape[-1:], eps=1e-6) * (1 + scale[:, None, :]) + shift[:, None, :]


def attention(q, k, v, heads):
    b, t, d = q.shape
    s = k.shape[1]
    dh = d // heads
    q = q.view(b, t, heads, dh).transpose(1, 2)
    k = k.view(b, s, heads, dh).transpose(1, 2)
    v = v.view(b, s, heads, dh).transpose(1, 2)
    p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
    return (p @ v).transpose(1, 2).reshape(b, t, d)


class Block(nn.Module):
    def __init__(self, d, heads, mlp_ratio):
        super().__init__()
        self.heads = heads
        self.scale_shift_table = nn.Parameter(torch.randn(6, d) / d ** 0.5)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.q_linear = nn.Linear(d, d)
        self.kv_linear = nn.Linear(d, 2 * d)
        self.cross_proj = nn.Linear(d, d)
        self.fc1 = nn.Linear(d, mlp_ratio * d)
        self.fc2 = nn.Linear(mlp_ratio * d, d)

    def forward(self, x, y, t0):
        b, _, d = x.shape
        mod = t0.view(b, 6, d) + self.scale_shift_table
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.chunk(6, dim=1)
        sq = lambda z: z.squeeze(1)
        q, k, v = self.qkv(modulate(x, sq(shift_msa), sq(scale_msa))).chunk(3, dim=-1)
        x = x + gate_msa * self.proj(attention(q, k, v, self.heads))
        ck, cv = self.kv_linear(y).chunk(2, dim=-1)
        x = x + self.cross_proj(attention(self.q_linear(x), ck, cv, self.heads))
        h = self.fc2(F.gelu(self.fc1(modulate(x, sq(shift_mlp), sq(scale_mlp))), approximate="tanh"))
        return x + gate_mlp * h


class DiT(nn.Module):
    def __init__(self, image, channels, patch, d, depth, heads, mlp_ratio, prompt_tokens, vocab, text_dim):
        super().__init__()
        self.image, self.channels, self.patch, self.d = image, channels, patch, d
        g = image // patch
        self.x_embedder = nn.Linear(patch * patch * channels, d)
        self.register_buffer("pos", self.sincos(d, g))
        self.t_mlp = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        self.token_table = nn.Parameter(torch.randn(vocab, text_dim))
        self.y_proj = nn.Linear(text_dim, d)
        self.blocks = nn.ModuleList(Block(d, heads, mlp_ratio) for _ in range(depth))
        self.final_table = nn.Parameter(torch.randn(2, d) / d ** 0.5)
        self.final = nn.Linear(d, patch * patch * channels)

    @staticmethod
    def sincos(d, g):
        q = d // 4
        omega = 1.0 / 10000 ** (torch.arange(q) / q)
        i, j = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")
        i, j = i.reshape(-1, 1).float() * omega, j.reshape(-1, 1).float() * omega
        return torch.cat([j.sin(), j.cos(), i.sin(), i.cos()], dim=1)

    @staticmethod
    def frequencies(t, dim=256):
        half = dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
        args = t[:, None] * freqs[None]
        return torch.cat([args.cos(), args.sin()], dim=1)

    def forward(self, x, t, tokens):
        b, p, c, g = x.shape[0], self.patch, self.channels, self.image // self.patch
        patches = x.view(b, g, p, g, p, c).permute(0, 1, 3, 2, 4, 5).reshape(b, g * g, p * p * c)
        h = self.x_embedder(patches) + self.pos
        t_emb = self.t_mlp(self.frequencies(t))
        t0 = self.t_block(t_emb)
        one_hot = F.one_hot(tokens, self.token_table.shape[0]).float()
        y = self.y_proj(one_hot @ self.token_table)
        for block in self.blocks:
            h = block(h, y, t0)
        shift, scale = (t_emb[:, None, :] + self.final_table).chunk(2, dim=1)
        out = self.final(modulate(h, shift.squeeze(1), scale.squeeze(1)))
        return out.view(b, g, g, p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(b, self.image, self.image, c)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = PRESETS[args.preset]
    image, channels, prompt_tokens, vocab = cfg[0], cfg[1], cfg[7], cfg[8]
    model = DiT(*cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    x0 = torch.rand(args.batch, image, image, channels) * 2 - 1
    tokens = torch.randint(0, vocab, (args.batch, prompt_tokens))
    times, loss = [], float("nan")
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        t = torch.rand(args.batch)
        eps = torch.randn_like(x0)
        tb = t.view(-1, 1, 1, 1)
        pred = model((1 - tb) * x0 + tb * eps, t * 1000, tokens)
        loss_t = F.mse_loss(pred, eps - x0)
        opt.zero_grad(set_to_none=True)
        loss_t.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss = loss_t.item()
        if step >= args.warmup:
            times.append((time.perf_counter() - start) * 1000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"msPerStep": statistics.median(times), "steps": len(times), "loss": loss,
                      "peakRssMB": peak, "params": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
