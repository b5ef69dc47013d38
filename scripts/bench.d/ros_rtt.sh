#!/usr/bin/env bash
# ros_rtt.sh: JointState round trip sim -> robotd -> effort command -> sim at 1 kHz over a
# real rosmaster, robotd's Arm against a rospy peer in the same round (drivers/ros
# BenchmarkJointStateRTT: sub-benchmark robotd, then rospy), and goroslib's silent drops
# by subscriber queue size (BenchmarkSubscriberQueueDrops). A section of BENCHMARKS.md
# (see README.md here); progress on stderr, markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${ROBOTD_RTT_SECONDS:-10}
tmp=${BENCH_TMP:-}
if [ -z "$tmp" ]; then tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; fi

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
# metric FILE BENCH UNIT: the values of one reported metric across rounds.
metric() { awk -v b="$2" -v u="$3" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=2;i<=NF;i++) if ($i==u) print $(i-1)}' "$1"; }
sum() { awk '{s+=$1} END {print s+0}'; }
maxof() { sort -g | tail -1; }

echo "ros_rtt: building drivers/ros test binary" >&2
go test -c -o "$tmp/ros_rtt.test" ./drivers/ros/
out="$tmp/ros_rtt.txt"
: > "$out"
for r in $(seq "$ROUNDS"); do
  echo "ros_rtt: round $r/$ROUNDS" >&2
  (cd drivers/ros && ROBOTD_RTT_SECONDS=$SECONDS_PER_RUN "$tmp/ros_rtt.test" -test.run '^$' \
    -test.bench '^Benchmark(JointStateRTT|SubscriberQueueDrops)$' -test.benchtime 1x) | tee -a "$out" >&2
done

B=BenchmarkJointStateRTT
go50=$(metric "$out" $B/robotd p50-us | median); py50=$(metric "$out" $B/rospy p50-us | median)
go99=$(metric "$out" $B/robotd p99-us | median); py99=$(metric "$out" $B/rospy p99-us | median)
gomax=$(metric "$out" $B/robotd max-us | median); pymax=$(metric "$out" $B/rospy max-us | median)
golost=$(metric "$out" $B/robotd lost | sum); pylost=$(metric "$out" $B/rospy lost | sum)
gostates=$(metric "$out" $B/robotd states | sum); pystates=$(metric "$out" $B/rospy states | sum)
golate=$(metric "$out" $B/robotd late-ticks | sum); pylate=$(metric "$out" $B/rospy late-ticks | sum)
rospy_version=$(dpkg-query -W -f='${Version}' python3-rospy 2>/dev/null || echo unknown)
ratio() { echo "$1/$2" | bc -l; }

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
printf '| round trip p50 (sim publishes JointState, responder answers with an effort command, back at the sim) | %.0f us (drivers/ros Arm + a polling loop, own process) | %.0f us (rospy %s, tools/bench/ros_rtt_peer.py) | %.2f | below the peer |\n' \
  "$go50" "$py50" "$rospy_version" "$(ratio "$go50" "$py50")"
printf '| round trip p99 | %.0f us | %.0f us | %.2f | < 1000 us, below the peer |\n' "$go99" "$py99" "$(ratio "$go99" "$py99")"
printf '| round trip max (median of rounds) | %.0f us | %.0f us | %.2f | |\n' "$gomax" "$pymax" "$(ratio "$gomax" "$pymax")"
printf '| states without an answer (all rounds) | %s of %s | %s of %s | | 0 (sustained 1 kHz, no loss) |\n' "$golost" "$gostates" "$pylost" "$pystates"
printf '| sim ticks started > 1 ms late (all rounds) | %s | %s | | 0 |\n' "$golate" "$pylate"
echo
echo "Median of $ROUNDS rounds; each round, per responder: a rosmaster, a SimServer (MuJoCo arm,"
echo "sim/models) publishing JointState every 1 ms from a locked OS thread (nanosleep to absolute"
echo "deadlines, 1 ns timer slack) for $SECONDS_PER_RUN s after 1 s of warm-up, and the responder in a"
echo "process of its own. robotd: this test binary as TestRTTResponder (a ros.Arm, and a loop on a"
echo "locked thread polling ReadState every 50 us, GOMAXPROCS=8) answering each new state with"
echo "WriteTorque; rospy: a JointState callback (queue_size=1, tcp_nodelay) publishing synchronously."
echo "The answer's last torque carries the state's stamp (ms after the sim epoch, x 1e-6 Nm); a probe"
echo "subscriber in the sim's process takes the time from just before SimServer.Step to the first"
echo "answer with that identity (so one 1 ms MuJoCo step is inside every round trip). A state is"
echo "lost when no answer names it within 100 ms of the run's end: both responders keep only the"
echo "newest state, so two states landing between two looks at it (late sim ticks publish back to"
echo "back) leave the older one unanswered. ratio = robotd / rospy (lower is better)."
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
echo "$qstates states over $ROUNDS rounds ($((qstates / ROUNDS)) per round, ${SECONDS_PER_RUN}/2 s), one SimServer, eight goroslib subscribers"
echo "in nodes of their own counting header.seq gaps. With QueueSize > 0 goroslib's reader goroutine"
echo "drops a message when the callback queue is full, and says nothing; with 0 it blocks instead,"
echo "TCP pushes back, and the cost is delay (the worst delay column), not loss -- until the"
echo "publisher's own 64-message buffer per subscriber fills, where goroslib's Publisher also drops"
echo "silently. robotd's Arm uses QueueSize 0 and a callback that only copies into a latest-value"
echo "mailbox, so it never falls behind; it keeps no header.seq, so a gap is visible only as"
echo "ArmStats.Accepted lagging the publisher's count (header.seq gap counting belongs in arm.go)."
echo
echo "Commands (what each round ran):"
echo
echo '```'
echo "cd drivers/ros && ROBOTD_RTT_SECONDS=$SECONDS_PER_RUN go test -run '^\$' -bench '^Benchmark(JointStateRTT|SubscriberQueueDrops)\$' -benchtime 1x"
echo "  # starts per responder: rosmaster --core -p PORT; ros.test -test.run '^TestRTTResponder\$' (robotd);"
echo "  # /usr/bin/python3 tools/bench/ros_rtt_peer.py --ns /rtt_rospy"
echo '```'
