"""Writes gpt_reference.json: a tiny GPT-2 (W3's architecture, shrunk) in PyTorch, for
Tests/TopiaryTests/GPTReferenceTests.swift. Topiary loads the same parameters by name and must
reproduce the logits, the loss, every parameter's gradient, and three AdamW steps with
gradient clipping and weight decay on matrices only, as ../shared/reference/torch_tiny_gpt.py
trains.

Run with a PyTorch environment (see ../shared/reference/README.md):
    python Tests/Fixtures/make_gpt_reference.py
The JSON is committed; the tests never need PyTorch.
"""
import json, math, os
import torch, torch.nn as nn, torch.nn.functional as F

torch.set_flush_denormal(True)
V, T, L, H, C, B = 32, 8, 2, 2, 16, 3

class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = [z.view(b, t, H, C // H).transpose(1, 2) for z in (q, k, v)]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, C))

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)
    def forward(self, x): return self.proj(F.gelu(self.fc(x)))

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn, self.ln_2, self.mlp = nn.LayerNorm(C), Attention(), nn.LayerNorm(C), MLP()
    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))

class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * L) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std * 10)   # ×10: gradients well above float noise
            elif name.endswith("bias"):
                nn.init.normal_(p, 0.0, 0.05)
            else:
                nn.init.normal_(p, 1.0, 0.1)        # LayerNorm gains away from 1
    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks: x = block(x)
        return self.ln_f(x) @ self.wte.weight.t()

torch.manual_seed(0)
model = GPT()
flat = lambda t: [float("%.9g" % v) for v in t.detach().reshape(-1).tolist()]   # 9 digits: exact float32
params = lambda: {n: flat(p) for n, p in model.named_parameters()}
g = torch.Generator().manual_seed(1)
tokens = torch.randint(V, (4, B, T + 1), generator=g)
out = {"vocabulary": V, "context": T, "layers": L, "heads": H, "channels": C,
       "inputs": [flat(w[:, :-1].float()) for w in tokens], "targets": [flat(w[:, 1:].float()) for w in tokens],
       "initial": params()}

logits = model(tokens[0, :, :-1])
loss = F.cross_entropy(logits.view(-1, V), tokens[0, :, 1:].reshape(-1))
loss.backward()
out["logits"] = flat(logits)
out["loss"] = loss.item()
out["gradients"] = {n: flat(p.grad) for n, p in model.named_parameters()}

decay = [p for p in model.parameters() if p.dim() == 2]
other = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                        lr=3e-3, betas=(0.9, 0.99), eps=1e-8)
out["step_losses"], out["gradient_norms"] = [], []
for step in range(3):
    opt.zero_grad(set_to_none=True)
    x, y = tokens[step + 1, :, :-1], tokens[step + 1, :, 1:]
    loss = F.cross_entropy(model(x).view(-1, V), y.reshape(-1))
    loss.backward()
    out["gradient_norms"].append(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item())
    opt.step()
    out["step_losses"].append(loss.item())
out["after_steps"] = params()
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt_reference.json")
json.dump(out, open(path, "w"))
print("wrote", path, os.path.getsize(path), "bytes")
