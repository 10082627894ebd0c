# Golden token ids for Topiary's byte-level BPE tokenizer, made once with an independent
# implementation: Hugging Face `tokenizers` (0.22.1), built from the vocabulary and merges in
# SmolLM2-135M-Instruct.Q4_1.gguf's tokenizer.ggml.* metadata (read with `gguf` 0.19.0), with
# SmolLM's pre-tokenizer: digits split one by one, then GPT-2's byte-level split.
#   python make_bpe_golden.py ~/.cache/topiary/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf > bpe_golden.json
import json, sys
import gguf
from tokenizers import Tokenizer, models, pre_tokenizers, decoders

reader = gguf.GGUFReader(sys.argv[1])
def strings(key):
    field = reader.fields[key]
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
tokens = strings("tokenizer.ggml.tokens")
merges = [tuple(m.split(" ", 1)) for m in strings("tokenizer.ggml.merges")]
vocab = {token: index for index, token in enumerate(tokens)}
tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
tokenizer.decoder = decoders.ByteLevel()
texts = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces and   runs of   spaces  ",
    "Tabs\tand\nnewlines\n\n\nand CRLF\r\n",
    "Numbers: 3.14159, 2026-11-30, 1,000,000 and 42nd",
    "unicode: naïve café, Zürich, ß, Ελληνικά, русский, 日本語, 한국어, emoji 🚀🌍 and ✓",
    "contractions: don't, I'm, they're, we've, she'll, he'd, it's",
    "code: def f(x): return x**2 + 1  # comment",
    "MiXeD CaSe and ALLCAPS and snake_case_names",
    "",
    "a",
    "  ",
    "\u00e9\u0301 combining",
]
print(json.dumps({"tokenizer": "SmolLM2-135M-Instruct.Q4_1.gguf, tokenizers 0.22.1",
                  "cases": [{"text": t, "ids": tokenizer.encode(t, add_special_tokens=False).ids} for t in texts]},
                 ensure_ascii=False, indent=1))
