"""PyTorch baseline for benches/run_to_hook.rs: the same GPT-2-small-shaped
random model (12 layers, d_model 768, 12 heads, vocabulary 1024) run to
blocks.8.hook_resid_pre, i.e. the embeddings plus blocks 0-7 with nothing
after them (the model is truncated to 8 blocks and its final LayerNorm is
replaced by the identity), under torch.inference_mode with a fixed thread
count.

With --dtype bf16 the weights are cast to bfloat16 (what a PyTorch user
does to go faster; oneDNN then picks AMX or AVX512-BF16 where present).

Prints one JSON object: {"threads": N, "dtype": D, "ms": {"1x64": median_ms, ...}}.

With --save-dir DIR it also writes the full 12-layer model as a Hugging Face
directory (plus a tokenizer.json copied from the parity fixtures) for the
end-to-end `sage hook` comparison in bench/run_to_hook.sh.
"""

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2Model

SHAPES = [(1, 64), (1, 256), (8, 64), (16, 64)]
VOCAB = 1024
STOP_LAYER = 8


def model_config(n_layer: int) -> GPT2Config:
    return GPT2Config(
        vocab_size=VOCAB, n_positions=1024, n_embd=768, n_layer=n_layer, n_head=12, bos_token_id=0, eos_token_id=0
    )


def time_shape(model, batch: int, seq: int, repeats: int) -> float:
    ids = torch.tensor([[(i * 31 + b * 7) % VOCAB for i in range(seq)] for b in range(batch)])
    with torch.inference_mode():
        for _ in range(3):
            model(input_ids=ids)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(input_ids=ids)
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--save-dir", type=Path)
    parser.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    if args.save_dir:
        full = GPT2Model(model_config(12)).eval()
        full.save_pretrained(args.save_dir, safe_serialization=True)
        fixture_tok = Path(__file__).resolve().parent.parent / "tests/fixtures/models/gpt2/tokenizer.json"
        shutil.copy(fixture_tok, args.save_dir / "tokenizer.json")

    model = GPT2Model(model_config(STOP_LAYER)).eval()
    model.ln_f = torch.nn.Identity()
    if args.dtype == "bf16":
        model = model.to(torch.bfloat16)
    ms = {f"{b}x{s}": time_shape(model, b, s, args.repeats) for b, s in SHAPES}
    print(json.dumps({"threads": args.threads, "dtype": args.dtype, "torch": torch.__version__, "ms": ms}))


if __name__ == "__main__":
    main()
