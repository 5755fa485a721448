#!/usr/bin/env bash
# Benchmark harness: audits a scaled lab (honest SOCKS5 proxies, refused ports and
# blackholes) and reports medians of wall time, CPU time (user + sys) and peak RSS
# (GNU /usr/bin/time -v), for `--checks liveness` and for all checks, against the
# physical bound, and checks that every live entry came out alive and every other dead.
# See docs/BENCHMARKS.md for the method.
#
# Usage: scripts/bench.sh [options]
#   -n N          scaled lab entries                      (BENCH_N, default 10000)
#   -r RUNS       audits per configuration (median taken) (BENCH_RUNS, default 5)
#   -t SECONDS    audit --timeout                          (BENCH_TIMEOUT, default 2)
#   -c N          audit --concurrency [default: the CLI's] (BENCH_CONCURRENCY)
#   -m MIX        lab --mix                                (BENCH_MIX, default live=60,refused=30,blackhole=10)
#   -f FORMAT     report format: ndjson or json            (BENCH_FORMAT, default ndjson)
#   -s "C1 C2 …"  concurrency sweep: liveness wall at each concurrency, instead of the
#                 normal run                               (BENCH_SWEEP)
#   -k CHECKS     with -s: the --checks to sweep, `liveness` or `all` (default liveness)
#   -C "S1 S2 …"  cost per check: each --checks set (comma-separated, or `all`) audited at
#                 the concurrency, with CPU per live entry for the audit and the labs,
#                 instead of the normal run                (BENCH_COSTS)
#   -M N          also N honest MTProto proxies (lab --mtproto-scale, in the first lab;
#                 counted as live)                         (BENCH_MTPROTO, default 0)
#   -p N          at most N scaled entries per lab process (BENCH_PER_LAB, default 12000)
#   -B            do not run `cargo build --release` first
#   -K            keep the work folder (lists, reports, logs) and print its path
#
# Examples:
#   scripts/bench.sh -n 10000                     # the 10k table row
#   scripts/bench.sh -n 100000 -r 3               # the 100k row (starts 9 labs)
#   scripts/bench.sh -n 10000 -s "128 256 512 1024 2048"
#   scripts/bench.sh -n 2000 -m live=100 -C "liveness liveness,tls liveness,telegram all"
#
# BENCH_AUDIT_BIN=PATH audits with another proxy-audit binary (e.g. an older build, to
# compare), while the labs still run from target/release.
#
# Exit status: 0 when every run was correct, 1 when an entry came out wrong or an audit
# failed, 2 on bad arguments or when a lab did not start.
#
# Why several labs: a process may hold at most `ulimit -Hn` descriptors (20000 here, and
# raising it needs CAP_SYS_RESOURCE). So N entries are spread over ceil(N / per-lab) lab
# processes. Every entry listens on a loopback address of its own (lab i counts up from
# 127.(2+i).0.1; all of 127.0.0.0/8 is loopback: nothing leaves the machine), so the list
# is one of distinct hosts, as real lists are, and the audit's --per-host limit never
# holds an entry back. Every lab's proxies resolve the lab names to 127.0.0.1 and connect
# to the port asked for, so the audit uses the first lab's profile for all of them. Only
# the scaled entries are audited (the lab's fixed demonstration proxies are left out of
# the list), so the numbers depend on --mix alone.
set -euo pipefail
cd "$(dirname "$0")/.."

n=${BENCH_N:-10000}
runs=${BENCH_RUNS:-5}
timeout=${BENCH_TIMEOUT:-2}
concurrency=${BENCH_CONCURRENCY:-}
mix=${BENCH_MIX:-live=60,refused=30,blackhole=10}
format=${BENCH_FORMAT:-ndjson}
sweep=${BENCH_SWEEP:-}
costs=${BENCH_COSTS:-}
sweep_checks=liveness
per_lab=${BENCH_PER_LAB:-12000}
mtproto=${BENCH_MTPROTO:-0}
build=1
keep=0

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
while getopts 'n:r:t:c:m:f:s:k:C:p:M:BKh' opt; do
    case $opt in
        n) n=$OPTARG ;;
        r) runs=$OPTARG ;;
        t) timeout=$OPTARG ;;
        c) concurrency=$OPTARG ;;
        m) mix=$OPTARG ;;
        f) format=$OPTARG ;;
        s) sweep=$OPTARG ;;
        k) sweep_checks=$OPTARG ;;
        C) costs=$OPTARG ;;
        p) per_lab=$OPTARG ;;
        M) mtproto=$OPTARG ;;
        B) build=0 ;;
        K) keep=1 ;;
        *) usage ;;
    esac
done
die() { echo "bench: $*" >&2; exit 2; }
is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
is_count "$n" || die "-n must be a positive whole number, not '$n'"
is_count "$runs" || die "-r must be a positive whole number, not '$runs'"
[[ $mtproto =~ ^[0-9]+$ ]] || die "-M must be a whole number, not '$mtproto'"
is_count "$per_lab" && [ "$per_lab" -le 65000 ] || die "-p must be a whole number from 1 to 65000 (a lab counts up within its own 127.x.0.0/16), not '$per_lab'"
[[ $timeout =~ ^[0-9]+([.][0-9]+)?$ ]] || die "-t must be seconds (2, 0.5), not '$timeout'"
[ -z "$concurrency" ] || is_count "$concurrency" || die "-c must be a positive whole number"
for c in $sweep; do is_count "$c" || die "-s takes concurrencies like \"128 256 512\", not '$c'"; done
case $format in ndjson|json) ;; *) die "-f must be ndjson or json, not '$format'" ;; esac
case $sweep_checks in liveness|all) ;; *) die "-k must be liveness or all" ;; esac
for set in $costs; do
    [[ $set =~ ^[a-z_]+(,[a-z_]+)*$ ]] || die "-C takes check sets like \"liveness liveness,tls all\", not '$set'"
done
[ -z "$sweep" ] || [ -z "$costs" ] || die "-s and -C are separate runs: give one"
[ -x /usr/bin/time ] || die "needs GNU time at /usr/bin/time (apt-get install time)"
command -v python3 >/dev/null || die "needs python3"

if [ "$build" = 1 ]; then
    cargo build --release --quiet || die "cargo build --release failed"
fi
bin=$PWD/target/release/proxy-audit
[ -x "$bin" ] || die "no $bin (build it, or drop -B)"
audit_bin=${BENCH_AUDIT_BIN:-$bin}
[ -x "$audit_bin" ] || die "BENCH_AUDIT_BIN=$audit_bin is not an executable"
if [ -z "$concurrency" ]; then
    concurrency=$("$audit_bin" audit --help | grep -A4 -e '--concurrency' | grep -o 'default: [0-9]*' | head -1 | grep -o '[0-9]*$' || true)
    is_count "$concurrency" || die "cannot read the default --concurrency from audit --help; pass -c"
fi
# -C's check names, checked against the audit's own list before any lab starts.
if [ -n "$costs" ]; then
    known=" all $("$audit_bin" audit --help | sed -n '/^ *--checks/,/^ *--[a-z]/p' | grep -o '^ *- [a-z_]*:' | tr -d ' :-' | tr '\n' ' ')"
    for check in ${costs//,/ }; do
        [[ $known == *" $check "* ]] || die "-C: no check named '$check' (checks:${known% })"
    done
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d "${TMPDIR:-/tmp}/proxy-audit-bench.XXXXXX")
lab_pids=()
cleanup() {
    local status=$?
    for pid in "${lab_pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
    for pid in "${lab_pids[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "$keep" = 1 ]; then echo "bench: work folder kept: $work" >&2; else rm -rf "$work"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Labs -----------------------------------------------------------------------------
labs=$(( (n + per_lab - 1) / per_lab ))
[ "$labs" -le 250 ] || die "$labs labs would not fit on 127.2.0.1-127.251.255.255; raise -p"
started_at=$(date +%s)
for i in $(seq 0 $((labs - 1))); do
    share=$(( n / labs + (i < n % labs ? 1 : 0) ))
    mkdir -p "$work/lab$i"
    "$bin" lab --scale "$share" --mix "$mix" --bind "127.$((i + 2)).0.1" \
        --mtproto-scale "$(( i == 0 ? mtproto : 0 ))" \
        --list-out "$work/lab$i/list.txt" --profile-out "$work/lab$i/lab.toml" \
        2>"$work/lab$i/log" &
    lab_pids+=($!)
done
# Each lab prints "lab running" once its list and profile are written.
for i in $(seq 0 $((labs - 1))); do
    until grep -q 'lab running' "$work/lab$i/log" 2>/dev/null; do
        kill -0 "${lab_pids[$i]}" 2>/dev/null || { cat "$work/lab$i/log" >&2; die "lab $i exited"; }
        [ $(( $(date +%s) - started_at )) -lt 300 ] || die "lab $i not ready after 300 s"
        sleep 0.2
    done
done
profile=$work/lab0/lab.toml

# The audited list: the scaled entries of every lab, each with its kind in the comment;
# the manifest maps host:port to the kind the entry must come out as.
python3 - "$work" "$labs" <<'EOF'
import re, sys
from urllib.parse import urlsplit, parse_qs
work, labs = sys.argv[1], int(sys.argv[2])
kind_re = re.compile(r"^# (?:scale-(live|refused|blackhole)|mtproto-scale)-\d+:")
with open(f"{work}/list.txt", "w") as out, open(f"{work}/manifest.tsv", "w") as manifest:
    for i in range(labs):
        kind = None
        for line in open(f"{work}/lab{i}/list.txt"):
            m = kind_re.match(line)
            if m:
                kind = m.group(1) or "live"
                out.write(line)
            elif kind and not line.startswith("#"):
                out.write(line)
                q = parse_qs(urlsplit(line.strip()).query)
                manifest.write(f"{q['server'][0]}:{q['port'][0]}\t{kind}\n")
                kind = None
EOF
read -r live refused blackhole < <(awk -F'\t' '{c[$2]++} END {print c["live"]+0, c["refused"]+0, c["blackhole"]+0}' "$work/manifest.tsv")
total=$((live + refused + blackhole))
[ "$total" = $((n + mtproto)) ] || die "the labs listed $total scaled entries, not $((n + mtproto))"
# The live-only list: the same list without its blackholes, for the bound's live term.
awk '/^# scale-blackhole-/ {skip = 1; next} skip {skip = 0; next} {print}' "$work/list.txt" >"$work/noblackhole.txt"

# --- Measuring --------------------------------------------------------------------------
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
failures=0

# CPU seconds (user + sys) the labs have used so far: they share the machine with the
# audit, and serving TLS and the Telegram key exchange costs them more than the audit.
lab_cpu() {
    local ticks=0 pid stat
    for pid in "${lab_pids[@]}"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        ticks=$(awk -v t="$ticks" '{print t + $12 + $13}' <<<"$stat")
    done
    awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}'
}

# audit LIST CHECKS CONCURRENCY TAG: one timed audit; appends "wall cpu rss_kib lab_cpu" to
# $work/TAG.times and the correctness counts to $work/TAG.correct.
audit() {
    local list=$1 checks=$2 conc=$3 tag=$4 report=$work/report.$format status=0
    local args=(audit "$list" --profile "$profile" --allow-private --quiet
                --timeout "$timeout" --concurrency "$conc" --format "$format" -o "$report")
    [ "$checks" = all ] || args+=(--checks "$checks")
    local lab_before
    lab_before=$(lab_cpu)
    /usr/bin/time -v -o "$work/time.txt" "$audit_bin" "${args[@]}" 2>"$work/audit.err" || status=$?
    if [ "$status" != 0 ]; then
        echo "bench: audit exited with $status:" >&2; cat "$work/audit.err" "$work/time.txt" >&2
        failures=$((failures + 1)); return
    fi
    awk -F': ' -v lab_before="$lab_before" -v lab_after="$(lab_cpu)" '
        /Elapsed \(wall clock\)/ {n = split($2, p, ":"); wall = (n == 3 ? p[1]*3600 + p[2]*60 + p[3] : p[1]*60 + p[2])}
        /User time \(seconds\)/ {user = $2}
        /System time \(seconds\)/ {sys = $2}
        /Maximum resident set size/ {rss = $2}
        END {printf "%.2f %.2f %d %.2f\n", wall, user + sys, rss, lab_after - lab_before}' \
        "$work/time.txt" >>"$work/$tag.times"
    python3 - "$report" "$work/manifest.tsv" "$list" >>"$work/$tag.correct" <<'EOF' || failures=$((failures + 1))
import json, sys
from urllib.parse import urlsplit, parse_qs
report, manifest, listed = sys.argv[1], sys.argv[2], sys.argv[3]
want = dict(line.rstrip("\n").split("\t") for line in open(manifest))
in_list = set()
for line in open(listed):
    if line.startswith("tg://") or line.startswith("https://t.me/"):
        q = parse_qs(urlsplit(line.strip()).query)
        in_list.add(f"{q['server'][0]}:{q['port'][0]}")
if report.endswith(".json"):
    entries = json.load(open(report))["entries"]
else:
    entries = (json.loads(l) for l in open(report) if l.strip())
    entries = [e for e in entries if "status" in e]
got = {f"{e['host']}:{e['port']}": e["status"] for e in entries}
ok = {"live": 0, "refused": 0, "blackhole": 0}
bad = []
for endpoint in in_list:
    kind = want[endpoint]
    status = got.get(endpoint, "missing")
    if (status == "alive") == (kind == "live") and status != "missing":
        ok[kind] += 1
    else:
        bad.append(f"{kind} {endpoint} came out {status}")
count = lambda kind: sum(1 for e in in_list if want[e] == kind)
print(f"live alive {ok['live']}/{count('live')}, refused dead {ok['refused']}/{count('refused')}, "
      f"blackhole dead {ok['blackhole']}/{count('blackhole')}")
for line in bad[:5]:
    print("  WRONG:", line)
sys.exit(1 if bad or len(got) != len(in_list) else 0)
EOF
}

# measure LIST CHECKS CONCURRENCY TAG: RUNS audits; sets wall cpu rss labcpu (medians:
# s, s, MiB, s) and walls (every run's wall).
measure() {
    : >"$work/$4.times"; : >"$work/$4.correct"
    for _ in $(seq 1 "$runs"); do audit "$@"; done
    wall=$(cut -d' ' -f1 "$work/$4.times" | median)
    cpu=$(cut -d' ' -f2 "$work/$4.times" | median)
    rss=$(cut -d' ' -f3 "$work/$4.times" | median | awk '{printf "%.1f", $1 / 1024}')
    labcpu=$(cut -d' ' -f4 "$work/$4.times" | median)
    walls=$(cut -d' ' -f1 "$work/$4.times" | tr '\n' ' ')
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "nan"}'; }
correctness() { sort -u "$work/$1.correct" | sed 's/^/    /'; }
bound_of() { awk -v t="$timeout" -v b="$blackhole" -v c="$1" -v w="$2" \
    'BEGIN {printf "%.2f", t * int((b + c - 1) / c) + w}'; }

echo "proxy-audit benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
of_mtproto=""; [ "$mtproto" = 0 ] || of_mtproto=" (of which $mtproto MTProto)"
echo "lab: $total entries ($live live$of_mtproto, $refused refused, $blackhole blackhole; --mix $mix) in $labs lab process(es)"
echo "audit: $audit_bin --timeout $timeout, --format $format, $runs runs per line, medians shown"

per_live() { awk -v s="$1" -v n="$live" 'BEGIN {if (n > 0) printf "%d", s * 1e6 / n; else print "nan"}'; }

if [ -n "$costs" ]; then
    echo "concurrency: $concurrency"
    echo
    echo "cost per check set (CPU per live entry = CPU s / $live live entries; dead entries count in too)"
    printf '%-52s %7s %7s %9s %11s %11s  %s\n' checks "wall s" "cpu s" "lab cpu s" "cpu us/live" "lab us/live" "walls"
    for set in $costs; do
        measure "$work/list.txt" "$set" "$concurrency" "cost-${set//,/-}"
        printf '%-52s %7s %7s %9s %11s %11s  %s\n' "$set" "$wall" "$cpu" "$labcpu" "$(per_live "$cpu")" "$(per_live "$labcpu")" "$walls"
        correctness "cost-${set//,/-}"
    done
elif [ -n "$sweep" ]; then
    echo
    echo "concurrency sweep, --checks $sweep_checks (blackhole term = timeout x ceil(blackholes / concurrency))"
    printf '%-12s %9s %9s %10s %10s %16s  %s\n' concurrency "wall s" "cpu s" "RSS MiB" "lab cpu s" "blackhole term s" "walls"
    for c in $sweep; do
        measure "$work/list.txt" "$sweep_checks" "$c" "sweep$c"
        printf '%-12s %9s %9s %10s %10s %16s  %s\n' "$c" "$wall" "$cpu" "$rss" "$labcpu" "$(bound_of "$c" 0)" "$walls"
        correctness "sweep$c"
    done
else
    echo "concurrency: $concurrency"
    echo
    measure "$work/noblackhole.txt" liveness "$concurrency" live
    live_wall=$wall
    # The bound's own runs count too: show their entries when one came out wrong.
    if grep -q WRONG "$work/live.correct"; then correctness live; fi
    bound=$(bound_of "$concurrency" "$live_wall")
    echo "bound: $timeout s x ceil($blackhole / $concurrency) + $live_wall s (liveness wall of the $((live + refused)) entries without blackholes) = $bound s"
    echo
    printf '%-9s %8s %8s %9s %10s %13s %15s  %s\n' checks "wall s" "cpu s" "RSS MiB" "lab cpu s" "wall / bound" "all / liveness" "walls"
    measure "$work/list.txt" liveness "$concurrency" liveness
    liveness_wall=$wall
    printf '%-9s %8s %8s %9s %10s %13s %15s  %s\n' liveness "$wall" "$cpu" "$rss" "$labcpu" "$(ratio "$wall" "$bound")" "" "$walls"
    correctness liveness
    measure "$work/list.txt" all "$concurrency" all
    printf '%-9s %8s %8s %9s %10s %13s %15s  %s\n' all "$wall" "$cpu" "$rss" "$labcpu" "$(ratio "$wall" "$bound")" "$(ratio "$wall" "$liveness_wall")" "$walls"
    correctness all
fi

echo
if [ "$failures" -gt 0 ]; then
    echo "bench: FAILED: $failures audit(s) failed or came out wrong (see WRONG lines above)"
    exit 1
fi
echo "bench: every entry came out right in every run"
