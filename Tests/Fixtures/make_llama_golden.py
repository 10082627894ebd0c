"""Golden logits of SmolLM2-135M-Instruct (Q4_1 GGUF) from an independent NumPy forward.

Reads the GGUF with the `gguf` package, dequantizes every tensor with
`gguf.quants.dequantize`, and runs the Llama forward in float64 directly in llama.cpp's
layout: q and k rows stay in the GGUF's permuted order and rotary embeddings turn
adjacent pairs (2i, 2i+1), llama.cpp's "normal" rope. Topiary un-permutes the rows on
load and turns half-split pairs (Hugging Face's layout), so agreement also checks the
permutation. Prompts are token ids from bpe_golden.json (Hugging Face tokenizers' ids).

Run with the project venv (make python-venv):
    ~/.cache/topiary/venv/bin/python Tests/Fixtures/make_llama_golden.py \
        ~/.cache/topiary/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf > Tests/Fixtures/llama_golden.json
"""
import json
import os
import sys

import gguf
import numpy as np

reader = gguf.GGUFReader(sys.argv[1])
field = lambda key: reader.fields[key].contents()
tensors = {}
for t in reader.tensors:
    values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64)
    tensors[t.name] = values.reshape([int(d) for d in reversed(t.shape)])

layers, heads, kv_heads = field("llama.block_count"), field("llama.attention.head_count"), field("llama.attention.head_count_kv")
width, theta, eps = field("llama.embedding_length"), field("llama.rope.freq_base"), field("llama.attention.layer_norm_rms_epsilon")
hs = width // heads


def rms_norm(x, gain):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * gain


def rope_adjacent(x, n_heads):
    """x (T, n_heads*hs): pair (2i, 2i+1) of each head turns by p * theta^(-2i/hs)."""
    T = x.shape[0]
    x = x.reshape(T, n_heads, hs // 2, 2)
    freq = theta ** (-np.arange(0, hs, 2) / hs)
    angle = np.arange(T)[:, None] * freq[None, :]
    c, s = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    a, b = x[..., 0], x[..., 1]
    return np.stack([a * c - b * s, b * c + a * s], -1).reshape(T, n_heads * hs)


def forward(ids):
    x = tensors["token_embd.weight"][ids]
    T = len(ids)
    for l in range(layers):
        p = lambda name: tensors[f"blk.{l}.{name}.weight"]
        h = rms_norm(x, p("attn_norm"))
        q = rope_adjacent(h @ p("attn_q").T, heads).reshape(T, heads, hs)
        k = rope_adjacent(h @ p("attn_k").T, kv_heads).reshape(T, kv_heads, hs)
        v = (h @ p("attn_v").T).reshape(T, kv_heads, hs)
        out = np.zeros((T, heads, hs))
        for head in range(heads):
            g = head // (heads // kv_heads)
            scores = q[:, head] @ k[:, g].T / np.sqrt(hs)
            scores[np.triu_indices(T, 1)] = -np.inf
            w = np.exp(scores - scores.max(-1, keepdims=True))
            out[:, head] = (w / w.sum(-1, keepdims=True)) @ v[:, g]
        x = x + out.reshape(T, width) @ p("attn_output").T
        h = rms_norm(x, p("ffn_norm"))
        gate = h @ p("ffn_gate").T
        x = x + ((gate / (1 + np.exp(-gate))) * (h @ p("ffn_up").T)) @ p("ffn_down").T
    head = tensors.get("output.weight", tensors["token_embd.weight"])
    return rms_norm(x, tensors["output_norm.weight"]) @ head.T


cases = json.load(open(os.path.join(os.path.dirname(__file__), "bpe_golden.json")))["cases"]
probe_ids = [0, 1, 2, 17, 28, 198, 216, 504, 1003, 5600, 12001, 27003, 33777, 40000, 49151]
prompts = []
for case in cases[:4]:
    ids = case["ids"]
    logits = forward(ids)
    positions = []
    for t in range(len(ids)):
        row = logits[t]
        top = np.argsort(-row)[:5]
        m = row.max()
        positions.append({
            "logsumexp": float(m + np.log(np.exp(row - m).sum())),
            "top_ids": [int(i) for i in top],
            "top_logits": [float(row[i]) for i in top],
            "probe_logits": [float(row[i]) for i in probe_ids],
        })
    prompts.append({"text": case["text"], "ids": ids, "positions": positions})
json.dump({"model": os.path.basename(sys.argv[1]), "reference": "NumPy float64 forward over gguf.quants.dequantize, llama.cpp rope layout",
           "probe_ids": probe_ids, "prompts": prompts}, sys.stdout, indent=1)
