#!/usr/bin/env bash
# The device side of the GPU check (issue 17): runs on a machine with an NVIDIA GPU, CUDA's
# libraries from PyTorch's wheels and no Rust toolchain, over the binaries that
# scripts/gpu-check.sh built and copied into .gpu/. Prints one table, and writes it with the
# whole log and every JSON record under $OUT (or /tmp/loam-gpu-out).
#
#   bash scripts/gpu-run.sh [STAGE…]        stages: tests bench generate recipe (default: all)
#
# Each stage has a time limit (seconds, from the environment) so that all of them fit in one
# 600-second command: TESTS_S=90 (per test binary) BENCH_S=200 GENERATE_S=80 RECIPE_S=200. The recipe stops
# with a checkpoint when its time is up (the line says so); a second call
# `RECIPE_S=560 bash scripts/gpu-run.sh recipe` gives it the whole command.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-/tmp/loam-gpu-out}"
mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(tests bench generate recipe)
table="$out/table.md"
records="$out/records.jsonl"
: >"$records"
printf '| stage | what | result |\n| --- | --- | --- |\n' >"$table"
row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3" >>"$table"; }

echo "== machine"
uname -srm
ldd --version | head -1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi failed"
gpu="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
row machine "GPU, driver" "${gpu:-unknown}"
row machine "glibc here (built on 2.36)" "$(ldd --version | head -1 | awk '{print $NF}')"

# CUDA's libraries (NVRTC, cuBLAS) from PyTorch's wheels: nvidia/cu13/lib
libdir="$(python3 -c 'import nvidia, os
for p in nvidia.__path__:
    d = os.path.join(p, "cu13", "lib")
    if os.path.isdir(d):
        print(d); break' 2>/dev/null)"
if [ -z "$libdir" ]; then
  libdir="$(dirname "$(find / -name 'libnvrtc.so.1*' -path '*nvidia*' 2>/dev/null | head -1)")"
fi
echo "CUDA libraries: $libdir"
export LD_LIBRARY_PATH="$libdir:/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}"
export LOAM_TINYSHAKESPEARE="$PWD/.gpu/data/tinyshakespeare.txt"

# the binaries find their source files (kernels, scripts, test data) under the folder they
# were built in: link it to this copy of the tree
built_at="$(cat .gpu/built-at 2>/dev/null)"
if [ -n "$built_at" ] && [ ! -e "$built_at" ]; then
  mkdir -p "$(dirname "$built_at")" && ln -s "$PWD" "$built_at"
fi
xtask=.gpu/bin/xtask
if ! "$xtask" --help >/dev/null 2>&1; then
  echo "error: the binaries built on Debian 12 (glibc 2.36) do not run on this machine:"
  "$xtask" --help 2>&1 | head -5
  row machine "binaries run" "NO (see log.txt)"
  cat "$table"
  exit 3
fi
row machine "binaries run" "yes"

for stage in "${stages[@]}"; do
  case "$stage" in
  tests)
    echo "== tests: every test of the cuda_* binaries, the '::cuda' instances of the others"
    for bin in .gpu/tests/*; do
      name="$(basename "$bin")"
      log="$out/test-$name.txt"
      filter=cuda
      case "$name" in cuda_*) filter="" ;; esac
      timeout "${TESTS_S:-90}" "$bin" --test-threads 1 --nocapture ${filter:+"$filter"} >"$log" 2>&1
      rc=$?
      grep -E '^test |^test result|skipped|panicked|assert' "$log" | tail -40
      summary="$(grep '^test result' "$log" | tail -1 | sed 's/^test result: //; s/;.*finished.*//')"
      skips="$(grep -c 'skipped: no CUDA device' "$log")"
      [ "$skips" -gt 0 ] && summary="$summary; $skips printed 'skipped: no CUDA device'"
      row tests "$name" "rc $rc: ${summary:-no summary (timed out?)}"
    done
    ;;
  bench)
    echo "== bench gpt2-train (loam on cuda, PyTorch eager and torch.compile)"
    timeout "${BENCH_S:-200}" "$xtask" bench gpt2-train --device cuda --compare-pytorch --json >"$out/bench-gpt2-train.jsonl"
    rc=$?
    cat "$out/bench-gpt2-train.jsonl" >>"$records"
    cat "$out/bench-gpt2-train.jsonl"
    [ $rc -ne 0 ] && row bench "gpt2-train" "rc $rc (see log.txt)"
    ;;
  generate)
    for b in 1 32; do
      echo "== bench gpt2-generate --batch $b (loam on cuda, PyTorch on cuda)"
      timeout "${GENERATE_S:-80}" "$xtask" bench gpt2-generate --device cuda --batch "$b" --compare-pytorch --json >"$out/bench-generate-$b.jsonl"
      rc=$?
      cat "$out/bench-generate-$b.jsonl" >>"$records"
      cat "$out/bench-generate-$b.jsonl"
      [ $rc -ne 0 ] && row generate "gpt2-generate batch $b" "rc $rc (see log.txt)"
    done
    ;;
  recipe)
    echo "== shakespeare-char GPU recipe (configs/shakespeare-char-gpu.toml), at most ${RECIPE_S:-200} s"
    rm -rf /tmp/loam-recipe
    start=$(date +%s)
    timeout -s INT "${RECIPE_S:-200}" "$xtask" train --config configs/shakespeare-char-gpu.toml \
      --corpus "$LOAM_TINYSHAKESPEARE" --device cuda --out /tmp/loam-recipe 2>&1 | tee "$out/recipe.txt" | grep -v '^\s*$' | grep -E '^step|^steps|loss|speed|wall|error|stopped' 
    rc=${PIPESTATUS[0]}
    wall=$(( $(date +%s) - start ))
    val="$(grep 'val loss (full)' "$out/recipe.txt" | awk '{print $4}')"
    steps="$(grep '^steps ' "$out/recipe.txt" | awk '{print $2}')"
    speed="$(grep '^speed ' "$out/recipe.txt" | sed 's/^speed *//')"
    row recipe "shakespeare-char-gpu (target val ≤ 1.47)" "rc $rc, ${steps:-?} steps, val loss (full) ${val:-?}, ${speed:-?}, ${wall} s wall"
    ;;
  *)
    echo "unknown stage '$stage' (tests bench generate recipe)"
    exit 2
    ;;
  esac
done

python3 - "$records" >>"$table" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    figures = ", ".join(f"{k} {v:.4g}" for k, v in r.items() if k not in ("bench", "impl", "case"))
    print(f"| {r['bench']} | {r['impl']}: {r['case']} | {figures} |")
EOF
echo "== table"
cat "$table"
