"""Writes layer_reference.json: PyTorch reference outputs for single layers (conv1d/2d,
max/avg/global pooling, batchnorm train/eval, layernorm, activations, linear, embedding,
flatten), a residual block and a whole LeNet-5 (loss, gradients, two Adam steps), so the
Swift layer implementations can be tested against the reference framework.

For every layer case the JSON holds the input, the parameters BEFORE the forward, the output,
a fixed random "upstream" tensor R (the scalar loss is sum(output * R)), d loss / d input and
d loss / d parameter (PyTorch names); for batchnorm, "buffers" holds the running stats AFTER
the forward. Tensors are {"shape": [...], "values": [...]} with values flattened row-major
(C order) and written as the shortest decimal that round-trips the float32 value.
The "lenet5_model" case instead uses F.cross_entropy (mean) on integer "labels" and records
"loss", logits, gradients and the parameters after each Adam step (lr 1e-3). Writing all
~61.7k LeNet parameters 4 times (2 Adam steps, batch 3) made ~2.9 MB, so, to stay near 2 MB,
the batch is 2 and there is a single Adam step (LENET_BATCH, ADAM_STEPS below).

Run from the repo root with the PyTorch (CPU) venv:
    /tmp/torchref/bin/python Tests/Fixtures/make_layer_reference.py
CPU only, float32, torch.set_flush_denormal(True), fixed seeds. The JSON is committed; the
Swift tests never need PyTorch.
"""
import json, os
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F

torch.set_flush_denormal(True)
torch.set_default_dtype(torch.float32)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)


def f32(v):
    # Shortest decimal that round-trips the float32 value (str of np.float32), as a JSON number.
    return float(str(np.float32(v)))


def tensor(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "values": [f32(v) for v in t.reshape(-1).tolist()]}


def gen(k):
    return torch.Generator().manual_seed(1000 + k)


cases, names = [], set()


def add(case):
    assert case["name"] not in names, case["name"]
    names.add(case["name"])
    cases.append(case)


def run_case(name, layer, config, module, x, seed, integer_input=False, buffers=()):
    """Forward `module` on x, loss = sum(out * R), backward; record everything."""
    g = gen(seed + 500)
    params_before = {n: tensor(p) for n, p in module.named_parameters()}
    if not integer_input:
        x = x.clone().requires_grad_(True)
    out = module(x)
    R = torch.randn(out.shape, generator=g)
    (out * R).sum().backward()
    case = {"name": name, "layer": layer, "config": config, "input": tensor(x),
            "parameters": params_before}
    if buffers:
        bufs = dict(module.named_buffers())
        case["buffers"] = {n: tensor(bufs[n]) for n in buffers}
    case.update({"output": tensor(out), "upstream": tensor(R)})
    if not integer_input:
        case["input_grad"] = tensor(x.grad)
    case["parameter_grads"] = {n: tensor(p.grad) for n, p in module.named_parameters()}
    add(case)


k = 0
def seed():
    global k
    k += 1
    torch.manual_seed(k)
    return k


# --- convolutions -----------------------------------------------------------------------
for name, (cin, cout, ks, st, pad, bias, shape) in {
    "conv2d_basic":   (2, 3, 3, 1, 1, True, (2, 2, 5, 6)),
    "conv2d_pad2":    (1, 4, 5, 1, 2, True, (2, 1, 8, 8)),
    "conv2d_stride2": (3, 2, 3, 2, 0, True, (1, 3, 7, 7)),
    "conv2d_nobias":  (2, 2, 2, 2, 1, False, (2, 2, 5, 5)),
}.items():
    s = seed()
    m = nn.Conv2d(cin, cout, ks, stride=st, padding=pad, bias=bias)
    cfg = {"in_channels": cin, "out_channels": cout, "kernel_size": ks, "stride": st,
           "padding": pad, "bias": bias}
    run_case(name, "conv2d", cfg, m, torch.randn(shape, generator=gen(s)), s)

for name, (cin, cout, ks, st, pad, shape) in {
    "conv1d_pad2":    (3, 4, 5, 1, 2, (2, 3, 11)),
    "conv1d_stride2": (2, 3, 3, 2, 0, (2, 2, 9)),
}.items():
    s = seed()
    m = nn.Conv1d(cin, cout, ks, stride=st, padding=pad)
    cfg = {"in_channels": cin, "out_channels": cout, "kernel_size": ks, "stride": st,
           "padding": pad, "bias": True}
    run_case(name, "conv1d", cfg, m, torch.randn(shape, generator=gen(s)), s)

# --- pooling -----------------------------------------------------------------------------
for name, layer, mod, ks, st, shape in [
    ("maxpool2d_k2s2", "maxpool2d", nn.MaxPool2d, 2, 2, (2, 3, 6, 6)),
    ("maxpool2d_k3s2", "maxpool2d", nn.MaxPool2d, 3, 2, (1, 2, 7, 7)),
    ("maxpool1d_k2s2", "maxpool1d", nn.MaxPool1d, 2, 2, (2, 3, 10)),
    ("avgpool2d_k2s2", "avgpool2d", nn.AvgPool2d, 2, 2, (2, 3, 6, 6)),
    ("avgpool1d_k2s2", "avgpool1d", nn.AvgPool1d, 2, 2, (2, 3, 10)),
]:
    s = seed()
    x = torch.randn(shape, generator=gen(s))
    assert x.reshape(-1).unique().numel() == x.numel()  # no ties anywhere, so none in a window
    run_case(name, layer, {"kernel_size": ks, "stride": st, "padding": 0}, mod(ks, st), x, s)

s = seed()
run_case("global_avgpool2d", "global_avgpool2d", {"output_size": 1, "flatten": True},
         nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), torch.randn((2, 3, 4, 5), generator=gen(s)), s)
s = seed()
run_case("global_avgpool1d", "global_avgpool1d", {"output_size": 1, "flatten": True},
         nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten()), torch.randn((2, 4, 7), generator=gen(s)), s)

# --- normalisation -----------------------------------------------------------------------
def random_affine(m, g):
    with torch.no_grad():
        m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.5 + 1.0)
        m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.5)

BN_BUFS = ("running_mean", "running_var")
s = seed()
m = nn.BatchNorm2d(3, eps=1e-5, momentum=0.1); random_affine(m, gen(s + 200)); m.train()
run_case("batchnorm2d_train", "batchnorm2d",
         {"num_features": 3, "eps": 1e-5, "momentum": 0.1, "training": True}, m,
         torch.randn((4, 3, 3, 3), generator=gen(s)) * 1.5 + 0.3, s, buffers=BN_BUFS)

s = seed()
m = nn.BatchNorm2d(3, eps=1e-5, momentum=0.1); random_affine(m, gen(s + 200))
with torch.no_grad():
    m.running_mean.copy_(torch.randn(3, generator=gen(s + 300)))
    m.running_var.copy_(torch.rand(3, generator=gen(s + 301)) * 1.5 + 0.5)
m.eval()
run_case("batchnorm2d_eval", "batchnorm2d",
         {"num_features": 3, "eps": 1e-5, "momentum": 0.1, "training": False}, m,
         torch.randn((4, 3, 3, 3), generator=gen(s)), s, buffers=BN_BUFS)

s = seed()
m = nn.BatchNorm1d(3, eps=1e-5, momentum=0.1); random_affine(m, gen(s + 200)); m.train()
run_case("batchnorm1d_train", "batchnorm1d",
         {"num_features": 3, "eps": 1e-5, "momentum": 0.1, "training": True}, m,
         torch.randn((4, 3, 5), generator=gen(s)) * 1.5 - 0.2, s, buffers=BN_BUFS)

s = seed()
m = nn.LayerNorm(6, eps=1e-5); random_affine(m, gen(s + 200))
run_case("layernorm", "layernorm", {"normalized_shape": 6, "eps": 1e-5}, m,
         torch.randn((2, 3, 6), generator=gen(s)), s)

# --- activations -------------------------------------------------------------------------
for name, mod, cfg in [("relu", nn.ReLU(), {}), ("gelu", nn.GELU(), {"approximate": "none"}),
                       ("gelu_tanh", nn.GELU(approximate="tanh"), {"approximate": "tanh"}),
                       ("silu", nn.SiLU(), {}), ("tanh", nn.Tanh(), {})]:
    s = seed()
    run_case(name, name, cfg, mod, torch.randn((2, 7), generator=gen(s)) * 2.0, s)

# --- linear, embedding, flatten ----------------------------------------------------------
s = seed()
run_case("linear", "linear", {"in_features": 5, "out_features": 3, "bias": True},
         nn.Linear(5, 3), torch.randn((4, 5), generator=gen(s)), s)

s = seed()
idx = torch.tensor([[3, 7, 3], [0, 9, 7]])  # repeated indices: the weight grad must accumulate
run_case("embedding", "embedding", {"num_embeddings": 10, "embedding_dim": 4},
         nn.Embedding(10, 4), idx, s, integer_input=True)

s = seed()
run_case("flatten", "flatten", {"start_dim": 1, "end_dim": -1}, nn.Flatten(),
         torch.randn((2, 3, 2, 2), generator=gen(s)), s)

# --- residual block ----------------------------------------------------------------------
class ResidualBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + x)

s = seed()
m = ResidualBlock(4); random_affine(m.bn1, gen(s + 200)); random_affine(m.bn2, gen(s + 201)); m.train()
run_case("residual_block", "residual_block",
         {"channels": 4, "structure": "out = relu(bn2(conv2(relu(bn1(conv1(x))))) + x); conv1, conv2: "
          "Conv2d(4,4,3,stride=1,padding=1,bias=True); bn1, bn2: BatchNorm2d(4), training mode, "
          "eps 1e-5, momentum 0.1, random affine", "training": True},
         m, torch.randn((2, 4, 5, 5), generator=gen(s)), s,
         buffers=tuple(f"{b}.{r}" for b in ("bn1", "bn2") for r in BN_BUFS))

# --- whole LeNet-5 with cross-entropy and Adam ------------------------------------------
LENET_BATCH, ADAM_STEPS = 2, 1
torch.manual_seed(0)
lenet = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
g = gen(0)
x = torch.rand((LENET_BATCH, 1, 28, 28), generator=g)
labels = torch.randint(0, 10, (LENET_BATCH,), generator=g)
case = {"name": "lenet5_model", "layer": "lenet5_model",
        "config": {"structure": "Sequential(Conv2d(1,6,5,padding=2), ReLU, MaxPool2d(2), Conv2d(6,16,5), "
                   "ReLU, MaxPool2d(2), Flatten, Linear(400,120), ReLU, Linear(120,84), ReLU, Linear(84,10))",
                   "loss": "F.cross_entropy, mean over batch",
                   "optimizer": {"name": "adam", "lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8,
                                 "weight_decay": 0.0}},
        "input": tensor(x), "labels": labels.tolist(),
        "parameters": {n: tensor(p) for n, p in lenet.named_parameters()}}
opt = torch.optim.Adam(lenet.parameters(), lr=1e-3)
steps = []
for step in range(ADAM_STEPS):
    opt.zero_grad()
    logits = lenet(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    if step == 0:
        case["loss"] = f32(loss.item())
        case["output"] = tensor(logits)
        case["parameter_grads"] = {n: tensor(p.grad) for n, p in lenet.named_parameters()}
    opt.step()
    steps.append({n: tensor(p) for n, p in lenet.named_parameters()})
case["adam_steps"] = steps
add(case)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layer_reference.json")
with open(path, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, separators=(",", ":"))
    f.write("\n")
print("wrote", path, os.path.getsize(path), "bytes,", len(cases), "cases")
