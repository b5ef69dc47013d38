#!/usr/bin/env bash
# Live view and logs: does the 1 kHz loop notice them? In each round, robotd run on
# launch/test_fixture_realtime.yaml (realtime, fixture diffusion policy, 96x96 wrist camera
# at 30 Hz) for SECONDS (default 30) twice, back to back: plain (no hub: --listen off), then
# with --mcap, the operator page's telemetry server and the Foxglove server with two
# @foxglove/ws-protocol clients subscribed to every channel. Also: MCAP bytes per second,
# JPEG encode cost per frame (viz's BenchmarkJPEG against Python OpenCV's cv2.imencode,
# tools/bench/jpeg_cv2.py) and the hub's encode work per tick (BenchmarkHubTick). Prints a
# BENCHMARKS.md section (scripts/bench.d/README.md).
set -euo pipefail
ROUNDS=${ROUNDS:-1}
SECONDS_RUN=${VIZ_SECONDS:-30}
tmp=${BENCH_TMP:-$(mktemp -d)}
export PATH=/usr/local/go/bin:$PATH
go build -o "$tmp/robotd" ./cmd/robotd
launch=launch/test_fixture_realtime.yaml
for r in $(seq "$ROUNDS"); do
  echo "viz: round $r/$ROUNDS (2 x ${SECONDS_RUN} s)" >&2
  "$tmp/robotd" run --launch $launch --duration "${SECONDS_RUN}s" --listen off \
    --summary-json "$tmp/base_$r.json" > "$tmp/base_$r.txt" 2> "$tmp/base_$r.log"
  rm -f "$tmp/viz_$r.log"
  "$tmp/robotd" run --launch $launch --duration "${SECONDS_RUN}s" --listen :0 --foxglove :0 --mcap "$tmp/viz_$r.mcap" \
    --summary-json "$tmp/viz_$r.json" > "$tmp/viz_$r.txt" 2> "$tmp/viz_$r.log" &
  pid=$!
  url=""
  for _ in $(seq 100); do
    url=$(grep -o 'ws://[0-9.:]*' "$tmp/viz_$r.log" | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "viz.sh: no Foxglove address in $tmp/viz_$r.log" >&2; kill "$pid"; exit 1; }
  client_s=$((SECONDS_RUN - 8))
  node tools/viz-peers/ws_client.js "$url" "$client_s" foxglove.websocket.v1 > "$tmp/ws1_$r.json" &
  c1=$!
  node tools/viz-peers/ws_client.js "$url" "$client_s" foxglove.sdk.v1 > "$tmp/ws2_$r.json" &
  c2=$!
  wait "$c1" "$c2" "$pid"
done
go test -run XXX -bench 'BenchmarkJPEG|BenchmarkHubTick|BenchmarkObserverTick' -benchtime 2s ./viz/ > "$tmp/gobench.txt"
/usr/bin/python3 tools/bench/jpeg_cv2.py > "$tmp/cv2.txt"
/usr/bin/python3 - "$tmp" "$ROUNDS" "$SECONDS_RUN" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, os, re, statistics, sys
tmp, rounds, secs, load = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def j(p): return json.load(open(os.path.join(tmp, p)))
# The round whose plain run had the median p99.9 jitter.
order = sorted(range(1, rounds + 1), key=lambda r: j(f"base_{r}.json")["period_jitter_us"]["p999"])
r = order[(len(order) - 1) // 2]
b, v = j(f"base_{r}.json"), j(f"viz_{r}.json")
line = open(os.path.join(tmp, f"viz_{r}.txt")).read()
m = re.search(r"viz: (\d+) messages logged \((\d+) bytes before compression\), (\d+) records dropped .*?, (\d+) JPEG frames \(([\d.]+)(µs|ms) each\)", line)
msgs, raw, dropped, frames = int(m[1]), int(m[2]), int(m[3]), int(m[4])
jpeg_run = float(m[5]) * (1000 if m[6] == "ms" else 1)
size = os.path.getsize(os.path.join(tmp, f"viz_{r}.mcap"))
ctl = v["control_seconds"]
ws = [j(f"ws1_{r}.json"), j(f"ws2_{r}.json")]
def rate(w, t): return w["topics"].get(t, {}).get("rate", 0)
gb = {}
for l in open(os.path.join(tmp, "gobench.txt")):
    f = l.split()
    if f and f[0].startswith("Benchmark"):
        gb[f[0].split("-")[0]] = (float(f[2]) / 1000, f)
cv = {l.split()[0]: (float(l.split()[1]), int(l.split()[2])) for l in open(os.path.join(tmp, "cv2.txt"))}
def jit(s): x = s["period_jitter_us"]; return f"{x['p50']:.0f} / {x['p99']:.0f} / {x['p999']:.0f} / {x['max']:.0f} us"
def work(s): x = s["tick_work_us"]; return f"{x['p50']:.1f} / {x['p99']:.0f} / {x['max']:.0f} us"
print("## Live view and logs: the loop with MCAP logging and two live subscribers")
print()
print(f"{secs} s of robotd run on launch/test_fixture_realtime.yaml (realtime 1 kHz, SCHED_FIFO "
      f"{v['sched_fifo'] or 'refused'}, the fixture diffusion policy, the 96x96 wrist camera at 30 Hz), twice back to "
      f"back in each round: plain (no observer: `--listen off`), then observed: `--mcap` (every tick's joint state, "
      f"torques, tool and target pose, gripper; plans, events, logs, JPEG frames), the telemetry server with the "
      f"operator page's sink, and the Foxglove server with two @foxglove/ws-protocol clients (foxglove.websocket.v1 "
      f"and foxglove.sdk.v1) subscribed to every channel for {int(secs) - 8} s. The round whose plain run had the "
      f"median p99.9 jitter of {rounds}; load average at the end {load} (other agents' work on the same 2 cores).")
print()
print("| what | plain | observed (MCAP + page + 2 Foxglove clients) | ratio |")
print("|---|---|---|---|")
print(f"| period jitter p50 / p99 / p99.9 / max | {jit(b)} | {jit(v)} | p99.9 {v['period_jitter_us']['p999'] / max(b['period_jitter_us']['p999'], 1e-9):.2f} |")
print(f"| periods over 2 ms | {b['periods_over_2ms']} of {b['ticks']} | {v['periods_over_2ms']} of {v['ticks']} | |")
print(f"| deadline misses | {b['deadline_misses']} | {v['deadline_misses']} | |")
print(f"| tick work p50 / p99 / max | {work(b)} | {work(v)} | p50 {v['tick_work_us']['p50'] / max(b['tick_work_us']['p50'], 1e-9):.2f} |")
print(f"| Go allocations in the run, all goroutines | {b['mallocs']} | {v['mallocs']} | |")
print(f"| GC pauses (n, max) | {int(b['gc_pause_us']['n'])}, {b['gc_pause_us']['max']:.0f} us | {int(v['gc_pause_us']['n'])}, {v['gc_pause_us']['max']:.0f} us | |")
print()
print("| what | robotd | peer | ratio |")
print("|---|---|---|---|")
print(f"| MCAP file (zstd chunks) | {size / ctl / 1e3:.0f} kB/s ({size / 2**20:.1f} MiB for {ctl:.1f} s; {msgs / ctl:.0f} messages/s, {raw / ctl / 1e6:.2f} MB/s of JSON before compression) | | |")
print(f"| records dropped (queues full) | {dropped} | | |")
print(f"| live joint states / camera frames per client | {rate(ws[0], '/robotd/joint_states'):.1f} and {rate(ws[1], '/robotd/joint_states'):.1f} Hz / {rate(ws[0], '/camera/wrist'):.1f} and {rate(ws[1], '/camera/wrist'):.1f} Hz | | |")
for size_name, key in [("96x96", "jpeg_96x96"), ("640x480", "jpeg_640x480")]:
    go_us, f = gb[f"BenchmarkJPEG/{size_name}"]
    cv_us, cv_bytes = cv[key]
    print(f"| JPEG encode per frame, {size_name}, quality 80 (Go image/jpeg vs Python cv2.imencode) | {go_us:.0f} us, {f[4]} bytes | {cv_us:.0f} us, {cv_bytes} bytes | {go_us / cv_us:.1f} |")
print(f"| JPEG encode per frame in the observed run (96x96, the hub's camera goroutine) | {jpeg_run:.0f} us, {frames} frames | | |")
obs_us, f = gb["BenchmarkObserverTick"]
print(f"| the loop's side of an observed tick (Hub.Tick: copy into a free buffer, queue) | {obs_us * 1000:.0f} ns, {f[4]} allocs | | |")
hub_us, f = gb["BenchmarkHubTick"]
print(f"| hub encode per tick (off the loop: 5 JSON messages, {float(f[4]):.0f} bytes) | {hub_us:.1f} us, {f[6]} allocs | | |")
print()
print("Commands (each round; the Foxglove URL is the one robotd logs):")
print()
print("```")
print(f"robotd run --launch launch/test_fixture_realtime.yaml --duration {secs}s --listen off --summary-json base.json")
print(f"robotd run --launch launch/test_fixture_realtime.yaml --duration {secs}s --listen :0 --foxglove :0 --mcap viz.mcap --summary-json viz.json &")
print(f"node tools/viz-peers/ws_client.js ws://127.0.0.1:PORT {int(secs) - 8} foxglove.websocket.v1 & node tools/viz-peers/ws_client.js ws://127.0.0.1:PORT {int(secs) - 8} foxglove.sdk.v1")
print("go test -run XXX -bench 'BenchmarkJPEG|BenchmarkHubTick|BenchmarkObserverTick' -benchtime 2s ./viz/")
print("/usr/bin/python3 tools/bench/jpeg_cv2.py")
print("```")
PY
