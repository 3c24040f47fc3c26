#!/usr/bin/env bash
# The 64-D comparison of docs/performance.md, as a user runs it: 20 plug-in steps at
# N = M = 2000, d = 64, fixed bandwidth 3, dt 0.5, through `ganflow run` and through the
# numpy brute force (benches/peers/numpy_flow.py), each timed from the shell, the four
# programs alternated round by round:
#
#   numpy as installed, and numpy told to use no AVX-512 (NPY_DISABLE_CPU_FEATURES);
#   ganflow on its AVX2 path (GANFLOW_SIMD=avx2), and on the best path this CPU has.
#
# It prints each program's median and the two ratios the README quotes: AVX2 ganflow
# against numpy without AVX-512 (a CPU without AVX-512), and ganflow against numpy as
# installed. The machine's speed drifts between runs, so compare ratios within one run.
#
#   benches/numpy_64d.sh [ROUNDS]      # 5 rounds by default, about a minute on 2 cores
#
# Needs python3 with numpy (PYTHON=... picks another interpreter). Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
python=${PYTHON:-python3}
if ! "$python" -c 'import numpy' 2>/dev/null; then
    echo "$python with numpy not found (set PYTHON=...)" >&2
    exit 2
fi
cargo build --release --quiet
bin=$PWD/target/release/ganflow
peer=$PWD/benches/peers/numpy_flow.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" sample gaussian --n 2000 --dim 64 --seed 1 --out "$tmp/p.csv"
"$bin" sample gaussian --n 2000 --dim 64 --seed 2 --mean 1 --out "$tmp/d.csv"
common=(--bandwidth 3 --dt 0.5 --steps 20)

# Seconds the command takes, its output discarded.
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    awk "BEGIN { printf \"%.4f\", $end - $start }"
}

for round in $(seq "$rounds"); do
    echo "numpy $(seconds "$python" "$peer" --particles "$tmp/p.csv" --data "$tmp/d.csv" \
        "${common[@]}" --out "$tmp/np.csv")"
    echo "numpy_no_avx512 $(NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL" seconds "$python" \
        "$peer" --particles "$tmp/p.csv" --data "$tmp/d.csv" "${common[@]}" --out "$tmp/np.csv")"
    rm -rf "$tmp/run"
    echo "ganflow_avx2 $(GANFLOW_SIMD=avx2 seconds "$bin" run --data "$tmp/d.csv" \
        --init "$tmp/p.csv" --no-standardize "${common[@]}" --out "$tmp/run")"
    rm -rf "$tmp/run"
    echo "ganflow $(seconds "$bin" run --data "$tmp/d.csv" --init "$tmp/p.csv" \
        --no-standardize "${common[@]}" --out "$tmp/run")"
done | tee "$tmp/times.txt"

echo
awk '
    { t[$1] = t[$1] " " $2 }
    END {
        for (k in t) {
            n = split(substr(t[k], 2), v, " ")
            # Insertion sort, then the median.
            for (i = 2; i <= n; i++) {
                x = v[i]
                for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]
                v[j + 1] = x
            }
            m[k] = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            printf "%-16s median %.3f s (%d rounds, %.3f-%.3f s)\n", k, m[k], n, v[1], v[n]
        }
        printf "ganflow AVX2 against numpy without AVX-512: %.2fx\n", m["numpy_no_avx512"] / m["ganflow_avx2"]
        printf "ganflow against numpy as installed:         %.2fx\n", m["numpy"] / m["ganflow"]
    }' "$tmp/times.txt"
