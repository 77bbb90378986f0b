#!/usr/bin/env python3
"""Corpus-mining benchmark: sage vs the usual PyTorch + sae_lens loop.

Builds (once, under --work) a random GPT-2-small-shaped model as a Hugging
Face directory, a random 24,576-latent SAELens SAE on
blocks.8.hook_resid_pre, a byte-level BPE tokenizer trained on the corpus,
and corpora of 1x and 10x a base size. Then, in one run:

  * Python: transformer_lens HookedTransformer loaded with the same weights,
    run_with_cache(stop_at_layer=9), sae.encode, running top-k of window
    maxima per latent plus firing counts (what SAEDashboard-style scripts do).
  * sage:   `sage top --model DIR --sae DIR --corpus C --features all`
    (skipped if --sage is not given), timed, with peak RSS from
    /usr/bin/time -v, on the 1x and the 10x corpus.

On the 1x corpus the two run in alternating rounds (--rounds, default 3),
and it prints tokens/s per round and the ratio of the best and of the median
rounds: mining loop against mining loop (Python from its first window to its
last top-k update; sage from the "mined N tokens in S s" line it prints,
which covers tokenizing, every batch and freezing the result, not loading or
writing JSON), and end to end (Python: imports, loading and the loop; sage:
the whole process, JSON output of every feature included). Then sage alone
on the 10x corpus, and its peak RSS for 1x and 10x.
Nothing here is committed but the script; artifacts live in --work.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

import torch

D_SAE = 24576
HOOK_LAYER = 8
HOOK = f"blocks.{HOOK_LAYER}.hook_resid_pre"


def collect_text(limit_bytes: int) -> str:
    """License-clean local text: Debian package docs, repeated if short."""
    pieces, size = [], 0
    for root, _, files in sorted(os.walk("/usr/share/doc")):
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix in {".gz", ".png", ".jpg", ".svg", ".ico"} or path.is_symlink():
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            pieces.append(text)
            size += len(text.encode())
    base = "\n".join(pieces) or "the quick brown fox jumps over the lazy dog\n"
    out = base
    while len(out.encode()) < limit_bytes:
        out += "\n" + base
    return out.encode()[:limit_bytes].decode("utf-8", errors="ignore")


def prepare(work: Path, base_kb: int) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for scale in (1, 10):
        corpus = work / f"corpus_{scale}x"
        if not corpus.exists():
            corpus.mkdir()
            (corpus / "docs.txt").write_text(collect_text(base_kb * 1024 * scale))
    model_dir = work / "gpt2-random"
    if not (model_dir / "model.safetensors").exists():
        from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
        from transformers import GPT2Config, GPT2LMHeadModel

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=8000, special_tokens=["<|endoftext|>"])
        tok.train([str(work / "corpus_1x" / "docs.txt")], trainer)
        torch.manual_seed(0)
        cfg = GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                         bos_token_id=0, eos_token_id=0)
        model = GPT2LMHeadModel(cfg)
        model.save_pretrained(model_dir, safe_serialization=True)
        tok.save(str(model_dir / "tokenizer.json"))
    sae_dir = work / "sae-random"
    if not (sae_dir / "cfg.json").exists():
        from sae_lens import StandardSAE, StandardSAEConfig

        torch.manual_seed(1)
        sae = StandardSAE(StandardSAEConfig(d_in=768, d_sae=D_SAE))
        with torch.no_grad():
            for p in sae.parameters():
                p.normal_(0, 0.05)
            sae.b_enc.fill_(-0.6)
        sae.cfg.metadata.hook_name = HOOK
        sae.cfg.metadata.prepend_bos = True
        sae.save_model(str(sae_dir))


def windows(tokenizer, text: str, window: int):
    """Full windows of `window` tokens from 8 KiB line-aligned chunks."""
    chunk, out = [], []
    for line in text.splitlines(keepends=True):
        chunk.append(line)
        if sum(len(c) for c in chunk) >= 8192:
            out.extend(cut(tokenizer, "".join(chunk), window))
            chunk = []
    if chunk:
        out.extend(cut(tokenizer, "".join(chunk), window))
    return out


def cut(tokenizer, text, window):
    ids = tokenizer.encode(text).ids
    return [ids[i:i + window] for i in range(0, len(ids) - window + 1, window)]


def python_pipeline(work: Path, corpus: Path, window: int, batch: int, k: int):
    """Loads model, SAE and tokenizer; returns (seconds spent loading, a
    function that runs the mining loop once and returns (tokens, seconds))."""
    began = time.perf_counter()
    from sae_lens import SAE
    from tokenizers import Tokenizer
    from transformers import GPT2LMHeadModel
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights

    hf = GPT2LMHeadModel.from_pretrained(work / "gpt2-random")
    cfg = HookedTransformerConfig(n_layers=12, d_model=768, n_ctx=1024, d_head=64, n_heads=12,
                                  d_mlp=3072, d_vocab=50257, act_fn="gelu_new",
                                  normalization_type="LN")
    model = HookedTransformer(cfg)
    model.load_and_process_state_dict(convert_gpt2_weights(hf, cfg), fold_ln=False,
                                      center_writing_weights=False, center_unembed=False)
    model.eval()
    sae = SAE.load_from_disk(str(work / "sae-random"))
    tokenizer = Tokenizer.from_file(str(work / "gpt2-random" / "tokenizer.json"))
    text = "".join(p.read_text() for p in sorted(corpus.rglob("*")) if p.is_file())
    loading = time.perf_counter() - began

    def loop():
        start = time.perf_counter()
        wins = windows(tokenizer, text, window)
        top_vals = torch.full((D_SAE, k), -1.0)
        top_idx = torch.full((D_SAE, k), -1, dtype=torch.long)
        firing = torch.zeros(D_SAE, dtype=torch.long)
        n_tokens = 0
        with torch.no_grad():
            for b in range(0, len(wins), batch):
                ids = torch.tensor([[0] + w for w in wins[b:b + batch]])
                _, cache = model.run_with_cache(ids, stop_at_layer=HOOK_LAYER + 1,
                                                names_filter=HOOK)
                acts = sae.encode(cache[HOOK])[:, 1:, :]  # drop BOS
                firing += (acts > 0).sum(dim=(0, 1))
                n_tokens += acts.shape[0] * acts.shape[1]
                maxes = acts.max(dim=1).values.T  # [d_sae, batch]
                idx = torch.arange(b, b + maxes.shape[1]).expand(D_SAE, -1)
                vals = torch.cat([top_vals, maxes], dim=1)
                idxs = torch.cat([top_idx, idx], dim=1)
                top_vals, order = vals.topk(k, dim=1)
                top_idx = idxs.gather(1, order)
        return n_tokens, time.perf_counter() - start

    return loading, loop


def sage_pipeline(sage: str, work: Path, corpus: Path, window: int, k: int):
    out = work / f"sage_{corpus.name}.json"
    cmd = ["/usr/bin/time", "-v", sage, "top", "--model", str(work / "gpt2-random"),
           "--sae", str(work / "sae-random"), "--corpus", str(corpus), "--features", "all",
           "-k", str(k), "--window", str(window), "--json", "--no-cache"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=out.open("w"), stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"sage failed:\n{proc.stderr[-2000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    mined = re.search(r"mined (\d+) tokens in ([\d.]+) s", proc.stderr)
    tokens, loop_s = int(mined.group(1)), float(mined.group(2))
    return tokens, loop_s, elapsed, rss_kb


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("target/bench-mine"))
    ap.add_argument("--base-kb", type=int, default=24, help="size of the 1x corpus")
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("-k", type=int, default=20)
    ap.add_argument("--sage", help="path to the sage binary (omit to run Python only)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating Python and sage runs on the 1x corpus")
    args = ap.parse_args()
    prepare(args.work, args.base_kb)
    c1, c10 = args.work / "corpus_1x", args.work / "corpus_10x"
    py_loading, py_loop = python_pipeline(args.work, c1, args.window, args.batch, args.k)
    py_runs, sage_runs = [], []
    # Alternate the two so that a noisy neighbour on a shared machine slows
    # both about equally; compare each side's best and median round.
    for _ in range(args.rounds if args.sage else 1):
        py_runs.append(py_loop())
        if args.sage:
            sage_runs.append(sage_pipeline(args.sage, args.work, c1, args.window, args.k))
    py_tokens = py_runs[0][0]
    py_rates = sorted(py_tokens / s for _, s in py_runs)
    print(f"python (torch {torch.__version__}, {torch.get_num_threads()} threads), 1x corpus: "
          f"{py_tokens} tokens; loop tokens/s per round {', '.join(f'{r:.0f}' for r in py_rates)}; "
          f"loading {py_loading:.1f}s")
    if not args.sage:
        return
    s_tokens = sage_runs[0][0]
    s_rates = sorted(t / s for t, s, _, _ in sage_runs)
    s_total = statistics.median(total for _, _, total, _ in sage_runs)
    rss1 = max(rss for _, _, _, rss in sage_runs)
    print(f"sage, 1x corpus: {s_tokens} tokens; loop tokens/s per round "
          f"{', '.join(f'{r:.0f}' for r in s_rates)}; end to end {s_total:.1f}s median "
          f"(loading and JSON of every feature included); peak RSS {rss1 / 1024:.0f} MiB")
    print(f"ratio sage/python, mining loop: best {s_rates[-1] / py_rates[-1]:.2f}x, "
          f"median {statistics.median(s_rates) / statistics.median(py_rates):.2f}x; "
          f"end to end (median sage run vs python loading + median loop): "
          f"{(py_loading + py_tokens / statistics.median(py_rates)) / s_total:.2f}x")
    t10, s10, total10, rss10 = sage_pipeline(args.sage, args.work, c10, args.window, args.k)
    print(f"sage 10x corpus: {t10} tokens, loop {s10:.1f}s = {t10 / s10:.0f} tokens/s; "
          f"end to end {total10:.1f}s; peak RSS {rss10 / 1024:.0f} MiB (1x: {rss1 / 1024:.0f} MiB, "
          f"{rss10 / rss1:.2f}x)")

if __name__ == "__main__":
    main()
