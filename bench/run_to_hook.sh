#!/usr/bin/env bash
# Times run_to_hook to blocks.8.hook_resid_pre on GPT-2-small-shaped weights
# in sage (criterion, benches/run_to_hook.rs) and PyTorch
# (bench/torch_run_to_hook.py) with the same thread count, in f32 and in bf16
# (sage `--dtype bf16`; torch with the weights cast to bfloat16), at 1x64,
# 1x256, 8x64 and 16x64 tokens, in ROUNDS alternating rounds (sage, torch,
# sage, torch...) because the machine is shared; prints each ratio, sage's
# GFLOP/s, the kernels sage ran and the CPU flags. Then times one `sage hook`
# process end to end (f32 and bf16) against the equivalent Python one-liner
# on the same saved model (also stopping at block 8).
#   CARGO_TARGET_DIR (default: target)  THREADS=N (default: nproc)  ROUNDS=N (default 2)
#   PYTHON=path/to/python with torch+transformers
#   PROFILE=bench (default; release settings) or dev (dependencies at opt-level 3,
#   sage's own code at 1; much cheaper to build, hot loops are explicit SIMD either way)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${THREADS:-$(nproc)}"
ROUNDS="${ROUNDS:-2}"
PYTHON="${PYTHON:-python3}"
TARGET="${CARGO_TARGET_DIR:-target}"
PROFILE="${PROFILE:-bench}"
case "$PROFILE" in
  dev) BIN_DIR="$TARGET/debug" ;;
  bench | release) BIN_DIR="$TARGET/release" ;;
  *) BIN_DIR="$TARGET/$PROFILE" ;;
esac
WORK="$TARGET/bench-run-to-hook"
MODEL="$WORK/gpt2-small-random"
mkdir -p "$WORK"
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "cpu:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores online, $THREADS threads"
echo "cpu flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
  grep -E '^(avx2|fma|avx512f|avx512bw|avx512vl|avx512_bf16|avx512_fp16|amx_tile|amx_bf16)$' | tr '\n' ' ')"
cargo build --profile "$PROFILE" --bin sage
"$BIN_DIR/sage" paths | grep -E '^(kernel_|cpu_flags)' | sed 's/^/sage /'
"$PYTHON" bench/torch_run_to_hook.py --threads "$THREADS" --repeats 1 --save-dir "$MODEL" >/dev/null

for round in $(seq 1 "$ROUNDS"); do
  dir="$WORK/round$round"
  mkdir -p "$dir"
  echo "round $round: load before sage $(load)"
  RAYON_NUM_THREADS="$THREADS" cargo bench --profile "$PROFILE" --bench run_to_hook -- --noplot run_to_hook >/dev/null
  rm -rf "$dir/criterion" && cp -r "$TARGET/criterion/run_to_hook" "$dir/criterion"
  for dtype in f32 bf16; do
    echo "round $round: load before torch $dtype $(load)"
    "$PYTHON" bench/torch_run_to_hook.py --threads "$THREADS" --dtype "$dtype" >"$dir/torch-$dtype.json"
  done
done

"$PYTHON" - "$WORK" "$ROUNDS" <<'PY'
import json, sys
work, rounds = sys.argv[1], int(sys.argv[2])
d, layers = 768, 8
est = lambda r, p: json.load(open(f"{work}/round{r}/criterion/{p}/new/estimates.json"))["median"]["point_estimate"] / 1e6
print(f"\nrun_to_hook to blocks.8.hook_resid_pre (median ms; ratio = torch ms / sage ms, >1 means sage is faster)")
print(f"{'round':>5} {'dtype':>5} {'shape':>6} {'sage ms':>9} {'torch ms':>9} {'ratio':>7} {'sage GFLOP/s':>13} {'torch GFLOP/s':>14}")
for r in range(1, rounds + 1):
    for dtype in ("f32", "bf16"):
        torch = json.load(open(f"{work}/round{r}/torch-{dtype}.json"))
        for shape, t_ms in torch["ms"].items():
            b, s = map(int, shape.split("x"))
            s_ms = est(r, f"{dtype}/{shape}")
            flops = layers * b * s * (24 * d * d + 4 * s * d)
            print(f"{r:>5} {dtype:>5} {shape:>6} {s_ms:9.2f} {t_ms:9.2f} {t_ms / s_ms:6.2f}x {flops / s_ms / 1e6:13.1f} {flops / t_ms / 1e6:14.1f}")
print(f"torch {torch['torch']}, {torch['threads']} threads")
PY

TEXT="The quick brown fox jumps over the lazy dog. It was a bright cold day in April, and the clocks were striking thirteen; Winston Smith slipped quickly through the glass doors of Victory Mansions."
time_it() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
for round in $(seq 1 "$ROUNDS"); do
  echo "end to end round $round, load $(load):"
  for dtype in f32 bf16; do
    SAGE_S=$(RAYON_NUM_THREADS="$THREADS" time_it "$BIN_DIR/sage" hook --model "$MODEL" --hook blocks.8.hook_resid_pre --text "$TEXT" --json --dtype "$dtype")
    PY_S=$(time_it "$PYTHON" -c "
import json, torch, sys
torch.set_num_threads($THREADS)
from transformers import GPT2Model, PreTrainedTokenizerFast
tok = PreTrainedTokenizerFast(tokenizer_file='$MODEL/tokenizer.json')
m = GPT2Model.from_pretrained('$MODEL').eval()
m.h = m.h[:8]
m.ln_f = torch.nn.Identity()
if '$dtype' == 'bf16':
    m = m.to(torch.bfloat16)
ids = [0] + tok('$TEXT')['input_ids']
with torch.inference_mode():
    out = m(torch.tensor([ids])).last_hidden_state[0].float()
print(json.dumps({'token_ids': ids, 'values': out.tolist()}))
")
    TOKENS=$("$BIN_DIR/sage" hook --model "$MODEL" --hook blocks.8.hook_resid_pre --text "$TEXT" --json | "$PYTHON" -c "import json,sys; print(len(json.load(sys.stdin)['token_ids']))")
    echo "  $dtype, $TOKENS tokens to JSON: sage ${SAGE_S}s, python ${PY_S}s, ratio $(echo "scale=2; $PY_S / $SAGE_S" | bc)x"
  done
done
echo "load after: $(load)"
