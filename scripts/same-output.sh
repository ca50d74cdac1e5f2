#!/usr/bin/env bash
# Output identity between two builds: runs every command of sipscope, in its text and JSON
# forms, with both binaries on the bundled samples, the shared corpus (../shared/corpus, when
# it is there) and any extra captures named after the two binaries, and reports each run whose
# standard output, standard error or exit status differ. A change meant to make sipscope
# faster must leave this at "0 differ".
#
# Usage: scripts/same-output.sh OLD_BINARY NEW_BINARY [EXTRA_CAPTURE...]
# Exit status: 0 when every run agrees, 1 when any differs, 2 on bad usage.
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY [EXTRA_CAPTURE...]" >&2; exit 2; }
old="$1" new="$2"; shift 2
for b in "$old" "$new"; do
  [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 2; }
done

files=("$here"/samples/*.pcap)
corpus="${SIPSCOPE_CORPUS:-$here/../shared/corpus}"
if [ -d "$corpus" ]; then
  while IFS= read -r f; do files+=("$f"); done < <(
    find "$corpus" -maxdepth 1 -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \
      -o -name '*.gz' \) | sort)
else
  echo "(no corpus at $corpus: samples only)" >&2
fi
files+=("$@")

commands=(
  "stats" "stats --json" "calls" "calls --json" "calls --failed"
  "diagnose" "diagnose --json" "export --format json" "export --format json --raw"
  "export --format ndjson" "ladder --width 120 --color never" "ladder --format mermaid"
  "ladder --format svg" "media" "view"
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
runs=0 differ=0
for f in "${files[@]}"; do
  for c in "${commands[@]}"; do
    read -r -a args <<< "$c"
    for side in old new; do
      bin="$old"; [ "$side" = new ] && bin="$new"
      if [ "$c" = view ]; then
        # The view's loading, without a terminal: load the list, open calls, compare figures
        # other than timings and memory, which differ from run to run.
        SIPSCOPE_VIEW_LOAD=1 "$bin" "$f" </dev/null 2>"$work/$side.err" \
          | sed -E 's/ in [0-9.]+ (s|ms)/ in -/g; s/peak RSS .*, entry/peak RSS -, entry/' \
          >"$work/$side.out"
      else
        "$bin" "${args[@]}" "$f" </dev/null >"$work/$side.out" 2>"$work/$side.err"
      fi
      echo "$?" >"$work/$side.rc"
    done
    runs=$((runs + 1))
    if ! cmp -s "$work/old.out" "$work/new.out" || ! cmp -s "$work/old.err" "$work/new.err" \
      || ! cmp -s "$work/old.rc" "$work/new.rc"; then
      differ=$((differ + 1))
      echo "DIFFER: $c $f"
      diff <(head -c 2000 "$work/old.out") <(head -c 2000 "$work/new.out") | head -n 6
    fi
  done
done
echo "compared $runs runs, $differ differ"
[ "$differ" = 0 ]
