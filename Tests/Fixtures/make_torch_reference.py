"""Writes torch_reference.json: a small LeNet-style MLP's PyTorch run on real Fashion-MNIST
rows, for Tests/TopiaryTests/ReferenceFrameworkTests.swift (llm.c-style: Topiary must
reproduce the reference framework's losses, gradients, masks and weights step by step).

Run with a PyTorch environment (see ../shared/reference/README.md):
    python Tests/Fixtures/make_torch_reference.py
The JSON is committed; the tests never need PyTorch.
"""
import gzip, json, os
import numpy as np, torch, torch.nn as nn, torch.nn.utils.prune as prune

D = "/usr/share/datasets/fashion-mnist/"
def idx(path):
    b = gzip.open(D + path).read()
    ndim = b[3]; dims = [int.from_bytes(b[4+4*i:8+4*i], "big") for i in range(ndim)]
    return np.frombuffer(b, np.uint8, offset=4+4*ndim).reshape(dims)

rows, batch = 64, 16
x = torch.tensor(idx("train-images-idx3-ubyte.gz")[:rows].reshape(-1, 784) / 255.0, dtype=torch.float32)
y = torch.tensor(idx("train-labels-idx1-ubyte.gz")[:rows].astype(np.int64))
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 10))
lin = [m for m in model if isinstance(m, nn.Linear)]
lossf = nn.CrossEntropyLoss()
flat = lambda t: [float("%.9g" % v) for v in t.detach().reshape(-1).tolist()]  # 9 digits: exact float32
def current(m, n):
    # Under torch's pruning reparametrisation `m.weight` is recomputed from weight_orig * mask
    # by a forward pre-hook, so after an optimizer step it is one step stale: read the source.
    if hasattr(m, n + "_orig"): return getattr(m, n + "_orig") * getattr(m, n + "_mask")
    return getattr(m, n)
weights = lambda: {f"fc{i+1}.{n}": flat(current(m, n)) for i, m in enumerate(lin) for n in ("weight", "bias")}

out = {"rows": rows, "batch_size": batch, "hidden_sizes": [16, 8], "initial": weights()}
model.zero_grad(); loss = lossf(model(x[:batch]), y[:batch]); loss.backward()
out["first_batch_loss"] = loss.item()
out["first_batch_gradients"] = {f"fc{i+1}.{n}": flat(getattr(m, n).grad) for i, m in enumerate(lin) for n in ("weight", "bias")}

def train(steps, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr); losses = []
    for s in range(steps):
        j = slice((s * batch) % rows, (s * batch) % rows + batch)
        opt.zero_grad(); l = lossf(model(x[j]), y[j]); l.backward(); opt.step(); losses.append(l.item())
    return losses

out["dense_losses"] = train(8, 1e-3)          # batches in order 0..3, twice
out["dense_weights"] = weights()
prune.global_unstructured([(m, "weight") for m in lin], pruning_method=prune.L1Unstructured, amount=0.75)
out["masks"] = {f"fc{i+1}.weight": flat(m.weight_mask) for i, m in enumerate(lin)}
out["masked_losses"] = train(8, 5e-4)
out["masked_weights"] = weights()
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_reference.json")
json.dump(out, open(path, "w"))
print("wrote", path, os.path.getsize(path), "bytes")
