#!/usr/bin/env bash
# The build side of the GPU check (issue 17), run HERE (the machine with the Rust toolchain):
# builds, with `--features cuda --release`, the tensor/nn/lm test binaries that hold GPU
# tests and the xtask binary, copies them stripped into .gpu/ (ignored through
# .git/info/exclude, not .gitignore) with the shakespeare corpus, checks that .gpu/ fits the
# device tool's 64 MiB carry limit, and prints the one device call to make.
#
#   scripts/gpu-check.sh
#
# The device side is scripts/gpu-run.sh (tracked, so it travels with the working tree).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
features="loam-tensor/cuda,loam-nn/cuda,loam-lm/cuda"
limit_mib=60 # the tool carries 64 MiB with the working tree; leave room for the tree itself
corpus="${LOAM_TINYSHAKESPEARE:-../shared/data/tinyshakespeare.txt}"

exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"
rm -rf .gpu
mkdir -p .gpu/bin .gpu/tests .gpu/data

echo "building the test binaries (cargo test --no-run --release --features $features)" >&2
cargo test --release --no-run --message-format=json -p loam-tensor -p loam-nn -p loam-lm --features "$features" >.gpu/build.json
# the test binaries whose sources mention CUDA: those hold the GPU instances
python3 - .gpu/build.json >.gpu/tests.txt <<'EOF'
import json, re, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("profile", {}).get("test") or not m.get("executable"):
        continue
    src = m["target"]["src_path"]
    text = open(src, encoding="utf-8").read()
    if re.search(r"Device::Cuda|device_tests!|cuda", text):
        print(m["target"]["name"], m["executable"])
EOF
echo "building xtask (cargo build --release -p xtask --features xtask/cuda)" >&2
cargo build --release -p xtask --features xtask/cuda
strip -s -o .gpu/bin/xtask target/release/xtask
while read -r name exe; do
  strip -s -o ".gpu/tests/$name" "$exe"
done <.gpu/tests.txt
if [ ! -f "$corpus" ]; then
  echo "error: the shakespeare corpus is not at $corpus (set LOAM_TINYSHAKESPEARE)" >&2
  exit 1
fi
cp "$corpus" .gpu/data/tinyshakespeare.txt
# the binaries read files under the source folder they were built in (CARGO_MANIFEST_DIR):
# the device side links that path to its copy of the tree
pwd >.gpu/built-at
rm .gpu/build.json

size_kib="$(du -sk .gpu | cut -f1)"
echo "test binaries: $(wc -l <.gpu/tests.txt) ($(cut -d' ' -f1 .gpu/tests.txt | tr '\n' ' '))" >&2
echo ".gpu/: $((size_kib / 1024)) MiB (limit $limit_mib MiB)" >&2
if [ "$size_kib" -gt $((limit_mib * 1024)) ]; then
  echo "error: .gpu/ is over $limit_mib MiB; build fewer test binaries or compress them" >&2
  exit 1
fi
cat <<'EOF'
The device call (one command, about 9 minutes; the table comes back as table.md):
  run(command="bash scripts/gpu-run.sh", carry=[".gpu"], timeout_s=600)
To give the shakespeare recipe a whole call of its own afterwards:
  run(command="RECIPE_S=560 bash scripts/gpu-run.sh recipe", carry=[".gpu"], timeout_s=600)
EOF
