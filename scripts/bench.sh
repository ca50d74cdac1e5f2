#!/usr/bin/env bash
# End-to-end benchmark: runs sipscope's streaming and whole-file commands on generated SIP
# captures of 100 MB and 1 GB and prints wall time, CPU time, MB/s, SIP messages/s and peak
# memory for each. When tshark is installed it runs `tshark -q -z sip,stat` on the same file in
# the same run and prints the ratio.
#
# The captures come from ../shared/bench/gen_sip_pcap.py (deterministic; the 1 GB one is the
# file the speed targets are stated for: --calls 270000 --seed 1000). They are big: they are
# written to $SIPSCOPE_BENCH_DATA (default /tmp/sipscope-bench), never into the repository.
#
# The generator writes SIP only. Media analysis at scale is measured on captures WITH RTP made
# by scripts/replicate_call.py from the bundled samples/answered-call-rtp.pcap (700 copies:
# 100 MB, 1,400 streams; 7,000 copies: 1 GB, 14,000 streams), where `media` and the export's
# streams run too.
#
# Millions of distinct Call-IDs: scripts/gen_flood.py writes a scanner flood (1,000,000
# unanswered OPTIONS, each its own call; 412 MB).
#
# Usage: scripts/bench.sh [100M|1G|rtp100M|rtp1G|flood|all|instr|scale]   (default all)
# Timing is noisy on a shared machine: compare CPU time (user+sys) first, and set
# SIPSCOPE_BENCH_RUNS=N to run each command N times and keep the run with the least CPU time.
# `instr` counts the instructions each command executes on a 10 MB generated capture
# (valgrind's callgrind; minutes, not seconds): the same figure on every run, whatever else
# the machine is doing, for comparing two builds exactly.
# `scale` checks that time grows linearly with the data: it runs each command on the 100 MB
# and the 1 GB captures in alternation (SIPSCOPE_BENCH_RUNS pairs, default 3, so that a
# change in the machine's load hits both sizes alike), keeps the least CPU and the least wall
# time of each size and prints how many times longer the 1 GB runs took, against how many
# times more SIP messages it holds (the target: 10x the data, at most 10.5x the time).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
# The generator sits in ../shared beside the main checkout; SIPSCOPE_BENCH_GEN names it from
# elsewhere (a worktree).
gen="${SIPSCOPE_BENCH_GEN:-$here/../shared/bench/gen_sip_pcap.py}"
data="${SIPSCOPE_BENCH_DATA:-/tmp/sipscope-bench}"
which="${1:-all}"
mkdir -p "$data"

[ -f "$gen" ] || { echo "generator not found: $gen (is ../shared beside the checkout?)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (/usr/bin/time): apt-get install -y time" >&2; exit 2; }

echo "building sipscope (release)..."
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$here/target}/release/sipscope"

make_rtp_file() { # name copies
  local f="$data/rtp_$1.pcap"
  if [ ! -s "$f" ]; then
    echo "replicating a call with RTP into $f ..." >&2
    python3 "$here/scripts/replicate_call.py" --input "$here/samples/answered-call-rtp.pcap" \
      --copies "$2" --out "$f" >/dev/null
  fi
  echo "$f"
}

make_flood_file() { # messages
  local f="$data/flood_$1.pcap"
  if [ ! -s "$f" ]; then
    echo "writing a scanner flood into $f ..." >&2
    python3 "$here/scripts/gen_flood.py" --messages "$1" --out "$f"
  fi
  echo "$f"
}

make_file() { # name calls seed
  local f="$data/sip_$1.pcap"
  if [ ! -s "$f" ]; then
    echo "generating $f ..." >&2
    python3 "$gen" --calls "$2" --seed "$3" --out "$f" >/dev/null
  fi
  echo "$f"
}

runs="${SIPSCOPE_BENCH_RUNS:-1}"

# run LABEL FILE MSGS CMD...: prints one line of figures (of the run with the least CPU time
# when SIPSCOPE_BENCH_RUNS asks for several).
run() {
  local label="$1" file="$2" msgs="$3"; shift 3
  local size; size=$(stat -c %s "$file")
  local tf; tf=$(mktemp)
  local wall user sys rss best="" n
  for ((n = 0; n < runs; n++)); do
    if ! /usr/bin/time -o "$tf" -f '%e %U %S %M' "$@" >/dev/null 2>/dev/null; then
      echo "  $label: FAILED (exit status non-zero)"
      rm -f "$tf"; LAST_WALL=0; return 0
    fi
    local line; line=$(tail -n 1 "$tf")
    if [ -z "$best" ] || awk -v a="$line" -v b="$best" 'BEGIN { split(a, x); split(b, y); exit !(x[2] + x[3] < y[2] + y[3]) }'; then
      best="$line"
    fi
  done
  rm -f "$tf"
  read -r wall user sys rss <<< "$best"
  awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$size" -v m="$msgs" 'BEGIN {
    if (w <= 0) w = 0.001;
    printf "  %-28s wall %7.2f s  cpu %7.2f s  %8.0f MB/s  %10.0f msgs/s  peak %7.1f MB\n",
      l, w, u + s, b / 1e6 / w, m / w, r / 1024 }'
  LAST_WALL="$wall"
}

bench_file() {
  local f="$1"
  local msgs; msgs=$("$bin" stats --json "$f" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["sip_messages"])')
  echo
  echo "$(basename "$f"): $(($(stat -c %s "$f") / 1000000)) MB, $msgs SIP messages ($(nproc) cores; $(date -u +%F))"
  run "stats" "$f" "$msgs" "$bin" stats "$f"
  local stats_wall="$LAST_WALL"
  run "calls" "$f" "$msgs" "$bin" calls "$f"
  run "export --format ndjson" "$f" "$msgs" "$bin" export --format ndjson "$f"
  run "diagnose" "$f" "$msgs" "$bin" diagnose "$f"
  if [ "${with_media:-0}" = 1 ]; then
    run "media" "$f" "$msgs" "$bin" media "$f"
    run "export --format json" "$f" "$msgs" "$bin" export --format json "$f"
  fi
  # The interactive view's list, loaded as the view loads it, without a terminal
  # (SIPSCOPE_VIEW_LOAD: load the list, open two calls, print figures, exit).
  run "view (full list loaded)" "$f" "$msgs" sh -c 'SIPSCOPE_VIEW_LOAD=1 "$0" "$1" </dev/null' "$bin" "$f"
  if command -v tshark >/dev/null; then
    run "tshark -q -z sip,stat" "$f" "$msgs" tshark -n -r "$f" -q -z sip,stat
    awk -v t="$LAST_WALL" -v s="$stats_wall" 'BEGIN { if (s <= 0) s = 0.001; printf "  stats is %.1fx faster than tshark on this file\n", t / s }'
  else
    echo "  (tshark not installed: no comparison; apt-get install -y tshark)"
  fi
}

# instructions LABEL FILE MSGS CMD...: instructions executed (all threads), per SIP message.
instructions() {
  local label="$1" msgs="$3"; shift 3
  local out; out=$(mktemp)
  if ! valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" >/dev/null 2>"$out"; then
    echo "  $label: FAILED (exit status non-zero)"; rm -f "$out"; return 0
  fi
  local refs; refs=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out" | tail -n 1); rm -f "$out"
  awk -v l="$label" -v r="$refs" -v m="$msgs" 'BEGIN {
    printf "  %-28s %10.1f M instructions  %8.0f per SIP message\n", l, r / 1e6, r / (m > 0 ? m : 1) }'
}

bench_instructions() {
  command -v valgrind >/dev/null || {
    echo "instr needs valgrind (apt-get install -y valgrind); nothing was measured" >&2; exit 2; }
  local f; f="$(make_file instr 2700 10)"
  local msgs; msgs=$("$bin" stats --json "$f" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["sip_messages"])')
  echo
  echo "$(basename "$f"): $(($(stat -c %s "$f") / 1000000)) MB, $msgs SIP messages, instructions counted by callgrind ($(date -u +%F))"
  instructions "stats" "$f" "$msgs" "$bin" stats "$f"
  instructions "calls" "$f" "$msgs" "$bin" calls "$f"
  instructions "export --format ndjson" "$f" "$msgs" "$bin" export --format ndjson "$f"
  instructions "diagnose" "$f" "$msgs" "$bin" diagnose "$f"
}

# once CMD...: one run; prints "wall cpu" (seconds, to the microsecond: wall from a monotonic
# clock, CPU from the child's resource usage), or nothing when it failed. `/usr/bin/time`
# prints hundredths, too coarse for the ratio of a 0.2 s run: 0.23 s may be 0.225 or 0.235,
# and the ratio moves by 4%.
once() {
  python3 -c '
import resource, subprocess, sys, time
# What children of this interpreter used before the run (its start-up may run some).
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
if rc == 0:
    cpu = (r.ru_utime - r0.ru_utime) + (r.ru_stime - r0.ru_stime)
    print(f"{wall:.6f} {cpu:.6f}")
' "$@"
}

bench_scale() {
  local small big; small="$(make_file 100M 27000 100)"; big="$(make_file 1G 270000 1000)"
  local ms mb
  ms=$("$bin" stats --json "$small" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["sip_messages"])')
  mb=$("$bin" stats --json "$big" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["sip_messages"])')
  local pairs="${SIPSCOPE_BENCH_RUNS:-3}"
  echo
  echo "linear growth: $(basename "$small") ($ms SIP messages) against $(basename "$big") ($mb), $pairs alternating pairs, least of each ($(nproc) cores; $(date -u +%F))"
  awk -v s="$ms" -v b="$mb" 'BEGIN { printf "  data ratio %.2fx; the target allows %.2fx the time\n", b / s, 1.05 * b / s }'
  local label
  for label in stats calls ndjson diagnose view; do
    local -a cmd
    case "$label" in
      stats) cmd=("$bin" stats) ;;
      calls) cmd=("$bin" calls) ;;
      ndjson) cmd=("$bin" export --format ndjson) ;;
      diagnose) cmd=("$bin" diagnose) ;;
      view) cmd=(sh -c 'SIPSCOPE_VIEW_LOAD=1 "$0" "$1" </dev/null' "$bin") ;;
    esac
    local n results=""
    for ((n = 0; n < pairs; n++)); do
      results+="s $(once "${cmd[@]}" "$small")"$'\n'
      results+="b $(once "${cmd[@]}" "$big")"$'\n'
    done
    awk -v l="$label" -v s="$ms" -v b="$mb" '
      NF == 3 { w = $2 + 0; c = $3 + 0
        if (!($1 in bw) || w < bw[$1]) bw[$1] = w
        if (!($1 in bc) || c < bc[$1]) bc[$1] = c }
      END {
        if (!("s" in bw) || !("b" in bw)) { printf "  %-9s FAILED (a run exited non-zero)\n", l; exit }
        d = b / s; rw = bw["b"] / (bw["s"] > 0 ? bw["s"] : 0.001); rc = bc["b"] / (bc["s"] > 0 ? bc["s"] : 0.001)
        printf "  %-9s wall %7.3f s -> %7.3f s: %6.2fx   cpu %7.3f s -> %7.3f s: %6.2fx   %s\n",
          l, bw["s"], bw["b"], rw, bc["s"], bc["b"], rc,
          (rc <= 1.05 * d && rw <= 1.05 * d) ? "linear" : (rc <= 1.05 * d ? "linear in CPU, not in wall" : "NOT linear") }' <<< "$results"
  done
}

case "$which" in
  instr) bench_instructions ;;
  scale) bench_scale ;;
  100M) bench_file "$(make_file 100M 27000 100)" ;;
  1G) bench_file "$(make_file 1G 270000 1000)" ;;
  rtp100M) with_media=1 bench_file "$(make_rtp_file 100M 700)" ;;
  rtp1G) with_media=1 bench_file "$(make_rtp_file 1G 7000)" ;;
  flood) bench_file "$(make_flood_file 1000000)" ;;
  all)
    bench_file "$(make_file 100M 27000 100)"; bench_file "$(make_file 1G 270000 1000)"
    with_media=1 bench_file "$(make_rtp_file 100M 700)"; with_media=1 bench_file "$(make_rtp_file 1G 7000)"
    bench_file "$(make_flood_file 1000000)" ;;
  *) echo "usage: $0 [100M|1G|rtp100M|rtp1G|flood|all|instr|scale]" >&2; exit 2 ;;
esac
