#!/usr/bin/env bash
# episode.sh: recording a LeRobotDataset v3.0 episode in real time, 2 cameras 224x224 at
# 30 fps plus state (episode BenchmarkRecord: sub-benchmark robotd, then the PyAV peer in
# the same round). A section of BENCHMARKS.md (see README.md here); progress on stderr,
# markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
ROUNDS=${ROUNDS:-3}
SECS=${ROBOTD_EPISODE_BENCH_SECONDS:-30}
tmp=${BENCH_TMP:-}
if [ -z "$tmp" ]; then tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; fi

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
metric() { awk -v b="$2" -v u="$3" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=2;i<=NF;i++) if ($i==u) print $(i-1)}' "$1"; }
sum() { awk '{s+=$1} END {print s+0}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "n/a"; else printf "%.2f", a/b}'; }

echo "episode: building the episode test binary" >&2
go test -c -o "$tmp/episode.test" ./episode/
out="$tmp/episode.txt"
: > "$out"
for r in $(seq "$ROUNDS"); do
  echo "episode: round $r/$ROUNDS (two ${SECS} s episodes, then the peer's)" >&2
  (cd episode && ROBOTD_EPISODE_BENCH_SECONDS=$SECS "$tmp/episode.test" -test.run '^$' \
    -test.bench '^BenchmarkRecord$' -test.benchtime 1x) | tee -a "$out" >&2
done

R=BenchmarkRecord/robotd P=BenchmarkRecord/peer
cpu=$(metric "$out" $R cpu-%core | median); pcpu=$(metric "$out" $P cpu-%core | median)
ff=$(metric "$out" $R ffmpeg-%core | median); gocpu=$(metric "$out" $R go-%core | median)
close=$(metric "$out" $R close-ms | median); pclose=$(metric "$out" $P close-ms | median)
drop=$(metric "$out" $R dropped | sum); pdrop=$(metric "$out" $P dropped | sum)
frames=$(metric "$out" $R frames | sum); pframes=$(metric "$out" $P frames | sum)
offgrid=$(metric "$out" $R offgrid | sum)
av=$(dpkg-query -W -f='${Version}' python3-av 2>/dev/null || echo unknown)
ffv=$(dpkg-query -W -f='${Version}' ffmpeg 2>/dev/null || echo unknown)

echo "## Recording episodes (LeRobotDataset v3.0): 2 cameras 224x224 at 30 fps plus state, real time"
echo
echo "| what | robotd | peer | ratio | goal |"
echo "|---|---|---|---|---|"
printf '| CPU while recording a %s s episode, %% of one core (process + ffmpeg children, End included) | %s %% (Go %s %%, ffmpeg encoders %s %%) | %s %% (PyAV %s, tools: episode/testdata/bench_peer.py) | %s | < 15 %% |\n' \
  "$SECS" "$cpu" "$gocpu" "$ff" "$pcpu" "$av" "$(ratio "$cpu" "$pcpu")"
printf '| dropped camera frames (all rounds) | %s of %s | %s of %s | | 0 |\n' "$drop" "$((2 * ${frames%.*}))" "$pdrop" "$((2 * ${pframes%.*}))"
printf '| time to close a %s s episode (End: encoders flushed, stats, data/episodes parquet rewritten, each mp4 moved into place, fsync, journal, renames) | %s ms | %s ms (flush encoders + np.save, no dataset files) | %s | < 1000 ms |\n' \
  "$SECS" "$close" "$pclose" "$(ratio "$close" "$pclose")"
printf '| frames captured > half a period off the 30 fps grid (all rounds; the bench paces with time.Sleep) | %s | | | |\n' "$offgrid"
echo
echo "Median of $ROUNDS rounds (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)). robotd: episode.Writer"
echo "(ffmpeg $ffv, libx264 ultrafast tune zerolatency crf 23 g 2, no B-frames, yuv420p converted"
echo "from RGB in Go, one ffmpeg per camera fed over a pipe from a bounded queue), recording a"
echo "second episode into a dataset that already holds one, so End appends to the shared data"
echo "and episodes files (each episode's video is a file of its own). The peer encodes the same kind of frames the way LeRobot's"
echo "StreamingVideoEncoder does (a PyAV libx264 encoder thread per camera, same settings) and"
echo "keeps state/action in numpy; it writes no parquet (Debian has no pyarrow), so its close time"
echo "is a floor, not a dataset commit. ratio = robotd / peer (lower is better)."
echo
echo "Command: \`ROUNDS=$ROUNDS scripts/bench.d/episode.sh\` (go test -bench '^BenchmarkRecord\$' ./episode/)."
