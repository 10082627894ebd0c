"""Runs a Hugging Face Llama folder (config.json, model.safetensors) through an independent
NumPy float64 forward in transformers' conventions (rotate_half rotary pairs, repeat_kv, tied
or untied head) and compares its logits with llama_golden.json, the NumPy forward of the
SmolLM2 GGUF in llama.cpp's layout. Use it on `topiary export --format safetensors` of an
unpruned SmolLM2 run: agreement means the folder holds the same model in HF's layout.

    ~/.cache/topiary/venv/bin/python Tests/Fixtures/check_hf_folder.py FOLDER
    ~/.cache/topiary/venv/bin/python Tests/Fixtures/check_hf_folder.py FOLDER --ids 17,4242,9
        (prints the window's logits instead, for HuggingFaceFolderTests)
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file

folder = sys.argv[1]
c = json.load(open(os.path.join(folder, "config.json")))
w = {k: v.astype(np.float64) for k, v in load_file(os.path.join(folder, "model.safetensors")).items()}
H, KV, C = c["num_attention_heads"], c["num_key_value_heads"], c["hidden_size"]
hs, eps = C // H, c["rms_norm_eps"]


def norm(x, g):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g


def forward(ids):
    T = len(ids)
    inv = 1.0 / c["rope_theta"] ** (np.arange(0, hs, 2) / hs)
    angle = np.concatenate([np.arange(T)[:, None] * inv[None, :]] * 2, -1)[:, None, :]
    rotate_half = lambda x: np.concatenate([-x[..., hs // 2:], x[..., :hs // 2]], -1)
    rope = lambda x: x * np.cos(angle) + rotate_half(x) * np.sin(angle)
    x = w["model.embed_tokens.weight"][ids]
    for l in range(c["num_hidden_layers"]):
        p = lambda n: w[f"model.layers.{l}.{n}.weight"]
        h = norm(x, p("input_layernorm"))
        q = rope((h @ p("self_attn.q_proj").T).reshape(T, H, hs))
        k = np.repeat(rope((h @ p("self_attn.k_proj").T).reshape(T, KV, hs)), H // KV, axis=1)
        v = np.repeat((h @ p("self_attn.v_proj").T).reshape(T, KV, hs), H // KV, axis=1)
        s = np.einsum("thd,uhd->htu", q, k) / np.sqrt(hs) + np.triu(np.full((T, T), -np.inf), 1)
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        x = x + np.einsum("htu,uhd->thd", a, v).reshape(T, C) @ p("self_attn.o_proj").T
        h = norm(x, p("post_attention_layernorm"))
        g = h @ p("mlp.gate_proj").T
        x = x + (g / (1 + np.exp(-g)) * (h @ p("mlp.up_proj").T)) @ p("mlp.down_proj").T
    head = w["model.embed_tokens.weight"] if c["tie_word_embeddings"] else w["lm_head.weight"]
    return norm(x, w["model.norm.weight"]) @ head.T


if len(sys.argv) == 4 and sys.argv[2] == "--ids":
    print(" ".join(repr(float(v)) for v in forward([int(i) for i in sys.argv[3].split(",")]).reshape(-1)))
    sys.exit(0)

golden = json.load(open(os.path.join(os.path.dirname(__file__), "llama_golden.json")))
worst, same_top = 0.0, 0
positions = 0
for prompt in golden["prompts"]:
    logits = forward(prompt["ids"])
    for t, expected in enumerate(prompt["positions"]):
        row = logits[t]
        worst = max(worst, max(abs(row[i] - v) for i, v in zip(expected["top_ids"], expected["top_logits"])),
                    max(abs(row[i] - v) for i, v in zip(golden["probe_ids"], expected["probe_logits"])))
        same_top += int(np.argmax(row)) == expected["top_ids"][0]
        positions += 1
print(f"{folder}: {positions} positions, largest logit difference {worst:.3g}, same top token at {same_top}/{positions}")
