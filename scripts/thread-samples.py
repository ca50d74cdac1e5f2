#!/usr/bin/env python3
"""Where a run's time goes, thread by thread: samples a command with `perf record -e cpu-clock`
(1,000 samples a second of CPU time, so a sample is about a millisecond) and prints, for each
thread, how many samples it took and from when to when it ran. Each pass of sipscope's
two-pass commands has a helper thread and a pager thread of its own, so the spans show how
long each pass took and whether its decoding thread or its consumer (the main thread, sampled
inside the helper's span) was the busy one: a thread with about as many samples as
milliseconds in its span had no time to spare.

Usage: scripts/thread-samples.py COMMAND [ARGS...]
  e.g. scripts/thread-samples.py target/release/sipscope calls big.pcap
Needs perf (Debian package linux-perf) and a kernel that lets it sample (cpu-clock is a
software event: it works where hardware counters are not offered).
"""
import collections
import os
import shutil
import subprocess
import sys
import tempfile


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if shutil.which("perf") is None:
        print("perf not found: apt-get install -y linux-perf", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        run = subprocess.run(
            ["perf", "record", "-q", "-e", "cpu-clock", "-F", "1000", "-o", data, "--"]
            + sys.argv[1:],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if run.returncode != 0 or not os.path.exists(data):
            print(f"perf record failed ({run.returncode}): {run.stderr.strip()}", file=sys.stderr)
            return 1
        script = subprocess.run(
            ["perf", "script", "-i", data, "-F", "pid,tid,comm,time"],
            capture_output=True,
            text=True,
        )
    times = collections.defaultdict(list)
    names = {}
    process = None
    for line in script.stdout.splitlines():
        # "  comm  pid/tid  time:"
        fields = line.split()
        ids = next((f for f in fields if "/" in f), None)
        stamp = next((f for f in fields if f.endswith(":")), None)
        if ids is None or stamp is None:
            continue
        pid, tid = (int(x) for x in ids.split("/"))
        times[tid].append(float(stamp.rstrip(":")))
        names[tid] = fields[0]
        # The command's own process: the one whose main thread took the most samples.
        if tid == pid and (process is None or len(times[tid]) > len(times[process])):
            process = tid
    if not times:
        print("no samples", file=sys.stderr)
        return 1
    start = min(min(t) for t in times.values())
    main_times = times.get(process, [])
    print(f"{'thread':>8} {'name':<12} {'samples':>8} {'from s':>8} {'to s':>8} {'span s':>7}"
          "  main thread's samples in the span")
    for tid, stamps in sorted(times.items(), key=lambda kv: min(kv[1])):
        lo, hi = min(stamps), max(stamps)
        inside = "" if tid == process else str(sum(1 for t in main_times if lo <= t <= hi))
        print(f"{tid:>8} {names[tid][:12]:<12} {len(stamps):>8} {lo - start:>8.3f} "
              f"{hi - start:>8.3f} {hi - lo:>7.3f}  {inside}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
