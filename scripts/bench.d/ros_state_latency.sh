#!/usr/bin/env bash
# ros_state_latency.sh: the receive side of a joint state, stage by stage, against a rospy
# publisher at 1 kHz (tools/bench/joint_state_pub.py, SCHED_FIFO 20) on a real rosmaster,
# read by the real daemon's control loop with robotd run's realtime setup (drivers/ros
# BenchmarkStateLatency), with a goroslib subscriber in the same process as the peer
# (the Arm's path before it had its own subscriber); then STALE_RUNS runs of 30 s with the
# daemon's default state_stale, counting watchdog trips. A section of BENCHMARKS.md (see
# README.md here); progress on stderr, markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
ROUNDS=${ROUNDS:-5}
SECS=${ROBOTD_LAT_SECONDS:-20}
STALE_RUNS=${STALE_RUNS:-10}
tmp=${BENCH_TMP:-}
if [ -z "$tmp" ]; then tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; fi

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
metric() { awk -v b="$2" -v u="$3" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=2;i<=NF;i++) if ($i==u) print $(i-1)}' "$1"; }
maxof() { sort -g | tail -1; }
sum() { awk '{s+=$1} END {print s+0}'; }

echo "ros_state_latency: building drivers/ros test binary" >&2
go test -c -o "$tmp/ros_lat.test" ./drivers/ros/
out="$tmp/ros_lat.txt"; : > "$out"
load="$tmp/ros_lat_load.txt"; : > "$load"
B=BenchmarkStateLatency
for r in $(seq "$ROUNDS"); do
  echo "ros_state_latency: round $r/$ROUNDS (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  cut -d' ' -f1 /proc/loadavg >> "$load"
  (cd drivers/ros && ROBOTD_LAT_GOROSLIB=1 ROBOTD_LAT_SECONDS=$SECS "$tmp/ros_lat.test" -test.run '^$' \
    -test.bench "^$B\$" -test.benchtime 1x -test.v 2>&1) | grep -v 'SyntaxWarning\|pub = rospy\|^ready' | tee -a "$out" >&2
done
stale="$tmp/ros_lat_stale.txt"; : > "$stale"
if [ "$STALE_RUNS" != 0 ]; then
  echo "ros_state_latency: $STALE_RUNS runs of 30 s with the default state_stale (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  (cd drivers/ros && ROBOTD_LAT_STALE=0 ROBOTD_LAT_RUNS=$STALE_RUNS ROBOTD_LAT_SECONDS=30 "$tmp/ros_lat.test" -test.run '^$' \
    -test.bench "^$B\$" -test.benchtime 1x -test.v -test.timeout 30m 2>&1) | grep -v 'SyntaxWarning\|pub = rospy\|^ready' | tee "$stale" >&2
fi

row() { # LABEL STAGE PEER_STAGE GOAL
  local p
  for p in p50 p99 p999 max; do
    local go py
    go=$(metric "$out" $B "$2-$p-us" | if [ $p = max ]; then maxof; else median; fi)
    if [ -n "$3" ]; then
      py=$(metric "$out" $B "$3-$p-us" | if [ $p = max ]; then maxof; else median; fi)
      printf '| %s %s | %.0f us | %.0f us | %.2f | %s |\n' "$1" "${p/p999/p99.9}" "$go" "$py" "$(echo "$go/$py" | bc -l)" "$4"
    else
      printf '| %s %s | %.0f us | | | %s |\n' "$1" "${p/p999/p99.9}" "$go" "$4"
    fi
  done
}

echo "## ROS joint state receive latency and the state_stale watchdog (rospy publisher at 1 kHz)"
echo
echo "| what | robotd | peer | ratio | goal |"
echo "|---|---|---|---|---|"
row "header stamp -> callback" stamp-callback goroslib-stamp-callback "below the peer"
row "callback -> control loop's read" callback-read "" "<= 1 tick"
row "header stamp -> control loop's read" stamp-read "" ""
row "watchdog's view: time since the last new state, at each read" watchdog-age "" "max < state_stale"
row "publisher: gap between stamps" stamp-gap "" ""
printf '| states read / not read (a newer one came first), all rounds | %s / %s | | | |\n' "$(metric "$out" $B states | sum)" "$(metric "$out" $B skipped | sum)"
if [ "$STALE_RUNS" != 0 ]; then
  printf '| runs of 30 s with the default state_stale that tripped it | %s of %s | | | 0 |\n' "$(metric "$stale" $B stale-trips | sum)" "$STALE_RUNS"
  printf '| those runs: largest watchdog view / publisher gap | %.1f ms / %.1f ms | | | |\n' \
    "$(echo "$(metric "$stale" $B watchdog-age-max-us | maxof)/1000" | bc -l)" "$(metric "$stale" $B pub-gap-max-ms | maxof)"
fi
echo
echo "Median of $ROUNDS rounds of $SECS s (max: the largest of all rounds) on a shared 2-core machine (1-minute load"
echo "average before the rounds: median $(median < "$load"), range $(sort -g "$load" | head -1)-$(sort -g "$load" | tail -1))."
echo "Each round: a rosmaster; tools/bench/joint_state_pub.py, a rospy node publishing"
echo "sensor_msgs/JointState every 1 ms (absolute deadlines, stamped just before publishing) under"
echo "\`chrt -f 20\`; robotd's ros.Arm (ArmConfig.RTPriority 80) read by daemon.Daemon holding the"
echo "arm for the round, with SCHED_FIFO 80, GOMAXPROCS 8 and GOGC 400 as robotd run sets them; and"
echo "a goroslib subscriber on the topic in the same process (the peer column: goroslib's reader"
echo "goroutine in Go's network poller handing each message to a dispatcher goroutine, which"
echo "was the Arm's path before drivers/ros stateSub). The first second of each round is left out."
echo "Stages: header stamp (the publisher's clock, the same host's) -> the Arm's callback entered"
echo "-> the control loop's ReadState taking the state; the watchdog's view is, at each read"
echo "that finds no new state, the time since the last new one (what daemon's state_stale"
echo "compares); a state that a newer one replaced before the loop read it is 'not read'."
echo
echo "Commands:"
echo
echo '```'
echo "cd drivers/ros && ROBOTD_LAT_GOROSLIB=1 ROBOTD_LAT_SECONDS=$SECS go test -run '^\$' -bench '^BenchmarkStateLatency\$' -benchtime 1x -v"
echo "cd drivers/ros && ROBOTD_LAT_STALE=0 ROBOTD_LAT_RUNS=$STALE_RUNS ROBOTD_LAT_SECONDS=30 go test -run '^\$' -bench '^BenchmarkStateLatency\$' -benchtime 1x -v -timeout 30m"
echo "  # ROBOTD_LAT_STALE=0: the daemon's default state_stale; each run a fresh publisher, Arm and daemon"
echo '```'
