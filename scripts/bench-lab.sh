#!/usr/bin/env bash
# Audits a scaled lab and reports wall time, CPU time and peak RSS (GNU time), as medians
# of several runs, for `--checks liveness` and for all checks.
#
#   scripts/bench-lab.sh [SCALE] [RUNS] [TIMEOUT]     defaults: 2000 5 2
#   MTPROTO_SCALE=500 scripts/bench-lab.sh 0           adds 500 honest MTProto proxies
#
# The lab's fixed proxies include hostile ones (tarpit, slow drip), so every run's wall
# time has a floor of about one --timeout.
# Everything runs on loopback: the lab's proxies only reach the lab's own origins.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-2000}
runs=${2:-5}
timeout=${3:-2}
cargo build --release --quiet
bin=target/release/proxy-audit
work=$(mktemp -d)
trap 'kill "$lab_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin" lab --scale "$scale" --mtproto-scale "${MTPROTO_SCALE:-0}" --list-out "$work/list.txt" --profile-out "$work/lab.toml" \
    2>"$work/lab.log" &
lab_pid=$!
for _ in $(seq 1 600); do
    [ -s "$work/lab.toml" ] && [ -s "$work/list.txt" ] && break
    sleep 0.1
done
entries=$(grep -vc '^#' "$work/list.txt")
echo "lab: $entries proxies (scale $scale, MTProto scale ${MTPROTO_SCALE:-0}), timeout ${timeout}s, $runs runs each"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for checks in liveness all; do
    args=(audit "$work/list.txt" --profile "$work/lab.toml" --allow-private --quiet
          --timeout "$timeout" --format json -o "$work/report.json")
    [ "$checks" = all ] || args+=(--checks "$checks")
    : >"$work/wall" ; : >"$work/cpu" ; : >"$work/rss"
    for _ in $(seq 1 "$runs"); do
        /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$bin" "${args[@]}"
        read -r wall user sys rss <"$work/time"
        echo "$wall" >>"$work/wall"
        echo "$user $sys" | awk '{print $1+$2}' >>"$work/cpu"
        echo "$rss" >>"$work/rss"
    done
    alive=$(python3 -c "import json;print(json.load(open('$work/report.json'))['summary']['alive'])")
    cpu=$(median <"$work/cpu")
    printf '%-9s wall %ss  cpu %ss (%s ms per proxy)  peak RSS %s KiB  (alive %s of %s)\n' \
        "$checks" "$(median <"$work/wall")" "$cpu" \
        "$(awk -v c="$cpu" -v n="$entries" 'BEGIN {printf "%.2f", 1000 * c / n}')" \
        "$(median <"$work/rss")" "$alive" "$entries"
done
