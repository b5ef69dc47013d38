#!/usr/bin/env bash
# Control-loop jitter in realtime mode with policy inference running alongside:
# robotd run --launch launch/test_fixture_realtime.yaml for SECONDS (default 60) against a Python
# 1 kHz loop (time.sleep pacing, numpy impedance tick, PyTorch policy thread), one after the
# other in each round. Prints a BENCHMARKS.md section (scripts/bench.d/README.md).
set -euo pipefail
ROUNDS=${ROUNDS:-1}
SECONDS_RUN=${LOOP_SECONDS:-60}
tmp=${BENCH_TMP:-$(mktemp -d)}
export PATH=/usr/local/go/bin:$PATH
go build -o "$tmp/robotd" ./cmd/robotd
cc -O2 -o "$tmp/loop_c" tools/bench/loop_c.c
rows=()
for r in $(seq "$ROUNDS"); do
  echo "daemon jitter: round $r/$ROUNDS (2 x ${SECONDS_RUN} s)" >&2
  "$tmp/robotd" run --launch launch/test_fixture_realtime.yaml --duration "${SECONDS_RUN}s" --listen off \
    --summary-json "$tmp/loop_$r.json" > "$tmp/loop_$r.txt" 2> "$tmp/loop_$r.log"
  /usr/bin/python3 tools/bench/loop_python.py --seconds "$SECONDS_RUN" > "$tmp/py_$r.txt"
  "$tmp/loop_c" "$SECONDS_RUN" 80 > "$tmp/c_$r.txt"
done
# The round with the median robotd p99.9 jitter, and the Python round next to it.
pick=$(for r in $(seq "$ROUNDS"); do
  /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["period_jitter_us"]["p999"], sys.argv[2])' "$tmp/loop_$r.json" "$r"
done | sort -g | awk '{a[NR]=$2} END {print a[int((NR+1)/2)]}')
read -r py_p50 py_p99 py_p999 py_max py_over py_n < <(awk '{print $2, $3, $4, $5, $6, $7}' "$tmp/py_$pick.txt")
read -r c_p50 c_p99 c_p999 c_max c_over c_n < <(awk '{print $2, $3, $4, $5, $6, $7}' "$tmp/c_$pick.txt")
/usr/bin/python3 - "$tmp/loop_$pick.json" "$py_p50" "$py_p99" "$py_p999" "$py_max" "$py_over" "$py_n" "$SECONDS_RUN" "$ROUNDS" \
  "$c_p50" "$c_p99" "$c_p999" "$c_max" "$c_over" "$c_n" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
py = [float(x) for x in sys.argv[2:8]]
secs, rounds = sys.argv[8], sys.argv[9]
c = [float(x) for x in sys.argv[10:16]]
load = sys.argv[16]
j, w, g = s["period_jitter_us"], s["tick_work_us"], s["gc_pause_us"]
inf = s["inference_us"]
print("## Control loop in realtime mode (launch/test_fixture_realtime.yaml)")
print()
print(f"{secs} s of the embedded MuJoCo arm at 1 kHz (robotd run, realtime mode: clock_nanosleep pacing, SCHED_FIFO "
      f"{s['sched_fifo'] or 'refused'}, memory locked: {s['memory_locked']}) with the fixture diffusion policy inferring "
      f"alongside ({int(inf['n'])} chunks, median {inf['p50']/1000:.1f} ms) and the wrist camera rendered off the loop. "
      f"Peer: tools/bench/loop_python.py, a 1 kHz Python loop (time.sleep to absolute deadlines, the numpy impedance "
      f"tick) with the same policy in PyTorch inferring in a thread every 0.8 s. Jitter = |wake-to-wake period - 1 ms|. "
      f"Floor: tools/bench/loop_c.c, a bare C loop with robotd's pacing and realtime setup and no work, run right after "
      f"in the same round: the jitter the kernel and the hypervisor leave to any process. "
      f"The round with the median robotd p99.9 of {rounds}; load average at the end {load}.")
print()
print("| what | robotd | peer (Python) | ratio | floor (C, no work) | goal |")
print("|---|---|---|---|---|---|")
print(f"| period jitter p50 / p99 / p99.9 / max | {j['p50']:.0f} / {j['p99']:.0f} / {j['p999']:.0f} / {j['max']:.0f} us | "
      f"{py[0]:.0f} / {py[1]:.0f} / {py[2]:.0f} / {py[3]:.0f} us | p99.9 {j['p999']/max(py[2],1e-9):.3f} | "
      f"{c[0]:.0f} / {c[1]:.0f} / {c[2]:.0f} / {c[3]:.0f} us | p99.9 < 100 us |")
print(f"| periods over 2 ms | {s['periods_over_2ms']} of {s['ticks']} | {int(py[4])} of {int(py[5])} | | {int(c[4])} of {int(c[5])} | 0 |")
print(f"| deadline misses (wake lateness + tick work > 1 ms) | {s['deadline_misses']} | | | | |")
print(f"| tick work p50 / p99 / max (read, executor, controller, safety, write, MuJoCo step) | {w['p50']:.0f} / {w['p99']:.0f} / {w['max']:.0f} us | | | | |")
print(f"| Go allocations during the run, all goroutines (TestTickNoAllocs: 0 per tick) | {s['mallocs']} over {s['ticks']} ticks | | | | 0 per tick |")
print(f"| Go heap in use at exit / GC pauses | {s['heap_bytes']/2**20:.1f} MiB / {int(g['n'])} pauses, max {g['max']:.0f} us | | | | |")
print()
print("Commands (each round):")
print()
print("```")
print(f"robotd run --launch launch/test_fixture_realtime.yaml --duration {secs}s --listen off --summary-json loop.json")
print(f"/usr/bin/python3 tools/bench/loop_python.py --seconds {secs}")
print(f"cc -O2 -o loop_c tools/bench/loop_c.c && ./loop_c {secs} 80")
print("```")
PY
