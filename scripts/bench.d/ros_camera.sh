#!/usr/bin/env bash
# ros_camera.sh: 640x480 rgb8 images at 30 Hz over a real rosmaster, robotd's ROS Camera
# against a rospy subscriber, both fed by the same publisher process in the same round
# (drivers/ros BenchmarkROSCamera: sub-benchmark robotd, then rospy). A section of
# BENCHMARKS.md (see README.md here); progress on stderr, markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
ROUNDS=${ROUNDS:-5}
FRAMES=${ROBOTD_CAMERA_BENCH_FRAMES:-300}
tmp=${BENCH_TMP:-}
if [ -z "$tmp" ]; then tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; fi

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
# metric FILE BENCH UNIT: the values of one reported metric across rounds.
metric() { awk -v b="$2" -v u="$3" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=2;i<=NF;i++) if ($i==u) print $(i-1)}' "$1"; }
sum() { awk '{s+=$1} END {print s+0}'; }

echo "ros_camera: building drivers/ros test binary" >&2
go test -c -o "$tmp/ros_camera.test" ./drivers/ros/
out="$tmp/ros_camera.txt"
: > "$out"
for r in $(seq "$ROUNDS"); do
  echo "ros_camera: round $r/$ROUNDS" >&2
  (cd drivers/ros && ROBOTD_CAMERA_BENCH_FRAMES=$FRAMES "$tmp/ros_camera.test" -test.run '^$' \
    -test.bench '^BenchmarkROSCamera$' -test.benchtime 1x) | tee -a "$out" >&2
done

go50=$(metric "$out" BenchmarkROSCamera/robotd p50-us | median)
go99=$(metric "$out" BenchmarkROSCamera/robotd p99-us | median)
py50=$(metric "$out" BenchmarkROSCamera/rospy p50-us | median)
py99=$(metric "$out" BenchmarkROSCamera/rospy p99-us | median)
godrops=$(metric "$out" BenchmarkROSCamera/robotd drops | sum)
pydrops=$(metric "$out" BenchmarkROSCamera/rospy drops | sum)
goframes=$(metric "$out" BenchmarkROSCamera/robotd frames | sum)
pyframes=$(metric "$out" BenchmarkROSCamera/rospy frames | sum)
rospy_version=$(dpkg-query -W -f='${Version}' python3-rospy 2>/dev/null || echo unknown)
ms() { echo "$1/1000" | bc -l; }

echo "## ROS camera images: 640x480 rgb8 at 30 Hz"
echo
echo "| what | robotd | peer | ratio | goal |"
echo "|---|---|---|---|---|"
printf '| latency p50, header stamp to frame in hand (publisher process -> rosmaster graph -> subscriber) | %.2f ms (drivers/ros Camera.Read) | %.2f ms (rospy %s subscriber, tools/bench/ros_camera_rospy.py) | %.2f | below the peer |\n' \
  "$(ms "$go50")" "$(ms "$py50")" "$rospy_version" "$(echo "$go50/$py50" | bc -l)"
printf '| latency p99 | %.2f ms | %.2f ms | %.2f | < 33 ms (one frame period), below the peer |\n' \
  "$(ms "$go99")" "$(ms "$py99")" "$(echo "$go99/$py99" | bc -l)"
printf '| frames dropped (all rounds) | %s of %s | %s of %s | | 0 |\n' "$godrops" "$goframes" "$pydrops" "$pyframes"
echo
echo "Median of $ROUNDS rounds; each round starts one rosmaster and one publisher process (the"
echo "drivers/ros test binary as TestCameraBenchPublisher: goroslib, a fresh 921,600-byte image"
echo "every 1/30 s, stamped just before Publisher.Write), then measures robotd's Camera for $FRAMES"
echo "frames and the rospy subscriber for $FRAMES frames, each after 30 frames of warm-up. Latency"
echo "is the subscriber's wall clock when it holds the image (robotd: Read returned, the pixels"
echo "copied into the caller's frame; rospy: the callback copied them into a numpy array) minus"
echo "the header stamp; both ends share this machine's clock. Drops are message numbers (carried in"
echo "the pixels) missing between the first and last frame of a window. ratio = robotd / rospy"
echo "(lower is better)."
echo
echo "Commands (what each round ran):"
echo
echo '```'
echo "cd drivers/ros && ROBOTD_CAMERA_BENCH_FRAMES=$FRAMES go test -run '^\$' -bench '^BenchmarkROSCamera\$' -benchtime 1x"
echo "  # starts: rosmaster --core -p PORT; ros.test -test.run '^TestCameraBenchPublisher\$' (publisher);"
echo "  # /usr/bin/python3 tools/bench/ros_camera_rospy.py --topic /bench/image_raw --frames $FRAMES --warmup 30"
echo '```'
