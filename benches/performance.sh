#!/usr/bin/env bash
# Regenerates the README's Performance section: every figure measured in one run, on one
# machine, one after the other (never two at once), into benches/results/.
#
#   benches/performance.sh            # about 20 minutes on 2 cores
#
# 1. `ganflow bench`: density and score at N points from M = N samples in 2-D, N = 10^3..10^6,
#    exact, kdtree and grid at tol 1e-4, on two targets: N(0.5, I), and a thin ring (radius
#    2, width 0.02) where most queries are in the tail; each estimator stops once one size
#    takes over 20 s. Writes bench.csv and bench.png (time against N, log-log, fitted slopes).
# 2. One whole plug-in velocity at N = M = 10^5 in 2-D from `ganflow velocity` (CSV reading
#    and writing included) with the grid and with the tree.
# 3. The peers, when python3 with numpy and scikit-learn is installed: scikit-learn's KD-tree
#    log-density (rtol 1e-4) and a numpy brute-force velocity at N = M = 10^5.
# Everything printed goes to benches/results/performance.txt as well.
set -euo pipefail
cd "$(dirname "$0")/.."
out=benches/results
mkdir -p "$out"
cargo build --release --quiet
bin=target/release/ganflow
log="$out/performance.txt"
{
    echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo
    echo "## ganflow bench"
    "$bin" bench --n 1000,3000,10000,30000,100000,300000,1000000 --dim 2 \
        --geometry gaussian,ring --estimators exact,kdtree,grid --tol 1e-4 --skip-after 20 \
        --out "$out"
    echo
    echo "## one plug-in velocity, N = M = 10^5, 2-D (the peers' point sets: N(0, I) and N(0.5, I))"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$bin" sample gaussian --n 100000 --seed 1 --out "$tmp/p.csv"
    "$bin" sample gaussian --n 100000 --seed 2 --mean 0.5 --out "$tmp/d.csv"
    for est in grid kdtree; do
        start=$(date +%s.%N)
        "$bin" velocity --particles "$tmp/p.csv" --data "$tmp/d.csv" --estimator "$est" \
            --tol 1e-4 --out "$tmp/v.csv"
        end=$(date +%s.%N)
        echo "ganflow velocity --estimator $est --tol 1e-4: $(awk "BEGIN { printf \"%.2f\", $end - $start }") s"
    done
    echo
    echo "## peers"
    if python3 -c 'import numpy, sklearn' 2>/dev/null; then
        python3 benches/peers/sklearn_kde.py --n 100000 --rtol 1e-4 --numpy
    else
        echo "python3 with numpy and scikit-learn not found: peers skipped"
    fi
} 2>&1 | tee "$log"
