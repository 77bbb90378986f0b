#!/usr/bin/env bash
# Times run_to_hook to blocks.8.hook_resid_pre on GPT-2-small-shaped weights
# in sage (criterion, benches/run_to_hook.rs) and PyTorch
# (bench/torch_run_to_hook.py) with the same thread count, prints both and
# the ratio, then times one `sage hook` process end to end against the
# equivalent Python one-liner on the same saved model (also stopping at
# block 8).
#   CARGO_TARGET_DIR (default: target)  THREADS=N (default: nproc)  PYTHON=path/to/python with torch+transformers
#   PROFILE=bench (default; release settings) or dev (dependencies at opt-level 3,
#   sage's own code at 1; much cheaper to build, hot loops are explicit SIMD either way)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${THREADS:-$(nproc)}"
PYTHON="${PYTHON:-python3}"
TARGET="${CARGO_TARGET_DIR:-target}"
PROFILE="${PROFILE:-bench}"
case "$PROFILE" in
  dev) BIN_DIR="$TARGET/debug" ;;
  bench | release) BIN_DIR="$TARGET/release" ;;
  *) BIN_DIR="$TARGET/$PROFILE" ;;
esac
WORK="$TARGET/bench-run-to-hook"
mkdir -p "$WORK"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

RAYON_NUM_THREADS="$THREADS" cargo bench --profile "$PROFILE" --bench run_to_hook -- --noplot
cargo build --profile "$PROFILE" --bin sage
"$PYTHON" bench/torch_run_to_hook.py --threads "$THREADS" --save-dir "$WORK/gpt2-small-random" >"$WORK/torch.json"

"$PYTHON" - "$WORK/torch.json" "$TARGET" <<'PY'
import json, sys
torch = json.load(open(sys.argv[1]))
est = lambda p: json.load(open(f"{sys.argv[2]}/criterion/{p}/new/estimates.json"))["median"]["point_estimate"] / 1e6
d, layers = 768, 8
print(f"\nrun_to_hook to blocks.8.hook_resid_pre, {torch['threads']} threads (torch {torch['torch']})")
print(f"{'shape':>6} {'sage ms':>9} {'torch ms':>9} {'speed-up':>9} {'sage GFLOP/s':>13}")
for shape, t_ms in torch["ms"].items():
    b, s = map(int, shape.split("x"))
    s_ms = est(f"run_to_hook/{shape}")
    flops = layers * b * s * (24 * d * d + 4 * s * d)
    print(f"{shape:>6} {s_ms:9.2f} {t_ms:9.2f} {t_ms / s_ms:8.2f}x {flops / s_ms / 1e6:13.1f}")
mm = est("matmul/512x768x3072")
print(f"plain candle matmul 512x768x3072: {2 * 512 * 768 * 3072 / mm / 1e6:.1f} GFLOP/s")
PY

TEXT="The quick brown fox jumps over the lazy dog."
MODEL="$WORK/gpt2-small-random"
time_it() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
SAGE_S=$(RAYON_NUM_THREADS="$THREADS" time_it "$BIN_DIR/sage" hook --model "$MODEL" --hook blocks.8.hook_resid_pre --text "$TEXT" --json)
PY_S=$(time_it "$PYTHON" -c "
import json, torch, sys
torch.set_num_threads($THREADS)
from transformers import GPT2Model, PreTrainedTokenizerFast
tok = PreTrainedTokenizerFast(tokenizer_file='$MODEL/tokenizer.json')
m = GPT2Model.from_pretrained('$MODEL').eval()
m.h = m.h[:8]
m.ln_f = torch.nn.Identity()
ids = [0] + tok('$TEXT')['input_ids']
with torch.inference_mode():
    out = m(torch.tensor([ids])).last_hidden_state[0]
print(json.dumps({'token_ids': ids, 'values': out.tolist()}))
")
echo "end to end, one text to JSON: sage ${SAGE_S}s, python ${PY_S}s, ratio $(echo "scale=2; $PY_S / $SAGE_S" | bc)x"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
