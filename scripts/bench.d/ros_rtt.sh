#!/usr/bin/env bash
# ros_rtt.sh: JointState round trip sim -> robotd -> effort command -> sim at 1 kHz over a
# real rosmaster, robotd's Arm against a rospy peer in the same round (drivers/ros
# BenchmarkJointStateRTT: sub-benchmark robotd, then rospy), once with normal scheduling
# and once with every process of the exchange under SCHED_FIFO (as robotd run and robotd
# sim ask for; skipped when refused), and goroslib's silent drops by subscriber queue size
# (BenchmarkSubscriberQueueDrops). A section of BENCHMARKS.md (see README.md here);
# progress on stderr, markdown on stdout. ROS_RTT_FIFO=0 skips the SCHED_FIFO runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${ROBOTD_RTT_SECONDS:-10}
FIFO=${ROS_RTT_FIFO:-20} # SCHED_FIFO priority of the second run of each round; 0: none
tmp=${BENCH_TMP:-}
if [ -z "$tmp" ]; then tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; fi

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
# metric FILE BENCH UNIT: the values of one reported metric across rounds.
metric() { awk -v b="$2" -v u="$3" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=2;i<=NF;i++) if ($i==u) print $(i-1)}' "$1"; }
sum() { awk '{s+=$1} END {print s+0}'; }
maxof() { sort -g | tail -1; }

echo "ros_rtt: building drivers/ros test binary" >&2
go test -c -o "$tmp/ros_rtt.test" ./drivers/ros/
if [ "$FIFO" != 0 ] && ! chrt -f "$FIFO" true 2>/dev/null; then
  echo "ros_rtt: SCHED_FIFO $FIFO refused (needs root or CAP_SYS_NICE): normal scheduling only" >&2
  FIFO=0
fi
out="$tmp/ros_rtt.txt"     # normal scheduling, and the queue drops
fout="$tmp/ros_rtt_fifo.txt"
load="$tmp/ros_rtt_load.txt" # 1-minute load average before each run
: > "$out"; : > "$fout"; : > "$load"
loadavg() { cut -d' ' -f1 /proc/loadavg >> "$load"; }
for r in $(seq "$ROUNDS"); do
  echo "ros_rtt: round $r/$ROUNDS (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  loadavg
  (cd drivers/ros && ROBOTD_RTT_SECONDS=$SECONDS_PER_RUN "$tmp/ros_rtt.test" -test.run '^$' \
    -test.bench '^Benchmark(JointStateRTT|SubscriberQueueDrops)$' -test.benchtime 1x) | tee -a "$out" >&2
  if [ "$FIFO" != 0 ]; then
    loadavg
    (cd drivers/ros && ROBOTD_RTT_SECONDS=$SECONDS_PER_RUN chrt -f "$FIFO" "$tmp/ros_rtt.test" -test.run '^$' \
      -test.bench '^BenchmarkJointStateRTT$' -test.benchtime 1x) | tee -a "$fout" >&2
  fi
done

B=BenchmarkJointStateRTT
rospy_version=$(dpkg-query -W -f='${Version}' python3-rospy 2>/dev/null || echo unknown)
ratio() { echo "$1/$2" | bc -l; }
# rows FILE LABEL: the round-trip rows of one scheduling setup.
rows() {
  local f=$1 l=$2
  local go50 py50 go99 py99 gomax pymax
  go50=$(metric "$f" $B/robotd p50-us | median); py50=$(metric "$f" $B/rospy p50-us | median)
  go99=$(metric "$f" $B/robotd p99-us | median); py99=$(metric "$f" $B/rospy p99-us | median)
  gomax=$(metric "$f" $B/robotd max-us | median); pymax=$(metric "$f" $B/rospy max-us | median)
  printf '| %s: round trip p50 (sim publishes JointState, responder answers with an effort command, back at the sim) | %.0f us | %.0f us | %.2f | below the peer |\n' \
    "$l" "$go50" "$py50" "$(ratio "$go50" "$py50")"
  printf '| %s: round trip p99 | %.0f us | %.0f us | %.2f | < 1000 us, below the peer |\n' "$l" "$go99" "$py99" "$(ratio "$go99" "$py99")"
  printf '| %s: round trip max (median of rounds) | %.0f us | %.0f us | %.2f | |\n' "$l" "$gomax" "$pymax" "$(ratio "$gomax" "$pymax")"
  printf '| %s: states without an answer (all rounds) | %s of %s | %s of %s | | 0 (sustained 1 kHz, no loss) |\n' "$l" \
    "$(metric "$f" $B/robotd lost | sum)" "$(metric "$f" $B/robotd states | sum)" "$(metric "$f" $B/rospy lost | sum)" "$(metric "$f" $B/rospy states | sum)"
  printf '| %s: sim ticks started > 1 ms late (all rounds) | %s | %s | | 0 |\n' "$l" "$(metric "$f" $B/robotd late-ticks | sum)" "$(metric "$f" $B/rospy late-ticks | sum)"
}

Q=BenchmarkSubscriberQueueDrops
qstates=$(metric "$out" $Q states | sum)
qrow() { # QUEUE LABEL
  printf '| %s | %s lost, worst delay %s ms | %s lost, worst delay %s ms |\n' "$2" \
    "$(metric "$out" $Q "queue$1-lost" | sum)" "$(metric "$out" $Q "queue$1-worst-ms" | maxof)" \
    "$(metric "$out" $Q "queue$1-stall-lost" | sum)" "$(metric "$out" $Q "queue$1-stall-worst-ms" | maxof)"
}

echo "## ROS JointState round trip: sim -> robotd -> effort command -> sim at 1 kHz"
echo
echo "| what | robotd | peer | ratio | goal |"
echo "|---|---|---|---|---|"
rows "$out" "normal scheduling"
if [ "$FIFO" != 0 ]; then rows "$fout" "SCHED_FIFO $FIFO"; fi
echo
echo "Median of $ROUNDS rounds on a shared 2-core machine (1-minute load average before the runs:"
echo "median $(median < "$load"), range $(sort -g "$load" | head -1)-$(sort -g "$load" | tail -1)). Each round, per responder: a rosmaster, a rosbridge.Server (MuJoCo arm,"
echo "sim/models) publishing JointState every 1 ms from a locked OS thread (nanosleep to absolute"
echo "deadlines, 1 ns timer slack) for $SECONDS_PER_RUN s after 1 s of warm-up, and the responder in a"
echo "process of its own. robotd: this test binary as TestRTTResponder, a ros.Arm with"
echo "ArmConfig.Queue 256 and a robot-paced loop (Arm.NextState, then WriteTorque, on a goroutine"
echo "not locked to a thread; GOMAXPROCS=8 and GOGC=400, as robotd run sets them) answering every"
echo "state in order; rospy: a JointState"
echo "callback (rospy $rospy_version, tools/bench/ros_rtt_peer.py, queue_size=256, tcp_nodelay) publishing synchronously. The answer's last torque"
echo "carries the state's stamp (ms after the sim epoch, x 1e-6 Nm); a probe subscriber in the"
echo "sim's process takes the time from just before rosbridge.Server.Step to the first answer with that"
echo "identity (so one 1 ms MuJoCo step is inside every round trip). A state is lost when no answer"
echo "names it within 100 ms of the run's end (a full queue, or goroslib's or rospy's silent"
echo "drops). The SCHED_FIFO rows run the same round under \`chrt -f $FIFO\`: the sim, the probe"
echo "and both responders (every thread, goroslib's and rospy's included) at one realtime"
echo "priority, as on a robot's realtime machine; with normal scheduling every goroutine"
echo "hand-off to a sleeping thread waits for the kernel to give that thread a core, which on 2"
echo "busy cores takes milliseconds at the tail. ratio = robotd / rospy (lower is better)."
echo "TestRTTResponder's other mode, ROBOTD_RTT_MODE=polled (a locked thread polling ReadState"
echo "every 50 us: latest value only, like a clock-paced loop), leaves states that land between"
echo "two polls unanswered."
echo
echo "### goroslib's silent drops by subscriber queue size, JointState at 1 kHz"
echo
echo "| SubscriberConf.QueueSize | callback keeps up | callback stalls 20 ms every 100 messages |"
echo "|---|---|---|"
qrow 0 "0 (goroslib's default; robotd's Arm)"
qrow 1 1
qrow 10 10
qrow 100 100
printf '| robotd Arm (QueueSize 0) | %s states not accepted | |\n' "$(metric "$out" $Q arm-lost | sum)"
echo
echo "$qstates states over $ROUNDS rounds ($((qstates / ROUNDS)) per round, ${SECONDS_PER_RUN}/2 s), one rosbridge.Server, eight goroslib subscribers"
echo "in nodes of their own counting header.seq gaps. With QueueSize > 0 goroslib's reader goroutine"
echo "drops a message when the callback queue is full, and says nothing; with 0 it blocks instead,"
echo "TCP pushes back, and the cost is delay (the worst delay column), not loss -- until the"
echo "publisher's own 64-message buffer per subscriber fills, where goroslib's Publisher also drops"
echo "silently. robotd's Arm uses QueueSize 0 and a callback that only copies into a latest-value"
echo "mailbox (and NextState's queue, when configured), so it never falls behind; header.seq gaps"
echo "are counted in ArmStats.SeqGaps, and the row above compares ArmStats.Accepted with the count sent."
echo
echo "Commands (what each round ran):"
echo
echo '```'
echo "cd drivers/ros && ROBOTD_RTT_SECONDS=$SECONDS_PER_RUN go test -run '^\$' -bench '^Benchmark(JointStateRTT|SubscriberQueueDrops)\$' -benchtime 1x"
if [ "$FIFO" != 0 ]; then
  echo "cd drivers/ros && go test -c -o ros.test && ROBOTD_RTT_SECONDS=$SECONDS_PER_RUN chrt -f $FIFO ./ros.test -test.run '^\$' -test.bench '^BenchmarkJointStateRTT\$' -test.benchtime 1x"
fi
echo "  # starts per responder: rosmaster --core -p PORT; ros.test -test.run '^TestRTTResponder\$' (robotd);"
echo "  # /usr/bin/python3 tools/bench/ros_rtt_peer.py --ns /rtt_rospy --queue 256"
echo '```'
