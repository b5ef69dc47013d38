#!/usr/bin/env bash
# bench_local.sh: sharded evaluation on this machine, for BENCHMARKS.md ("Evaluation at
# scale"): the same EPISODES seeds of the reference diffusion policy as one plain robotd
# eval, as one isolated run (--shard 0/1), and as 2 and 4 concurrent shards: wall time,
# CPU time (user + sys of every robotd process), episodes per core-hour and per hour, and
# the speed-up over --shard 0/1. Each merged result is checked equal to --shard 0/1.
#
#   scripts/slurm/bench_local.sh [EPISODES]     (default 40; files in out/bench_eval_scale/)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
n=${1:-40}
out=$here/out/bench_eval_scale
rm -rf "$out"; mkdir -p "$out"
PATH=$PATH:/usr/local/go/bin go build -o "$out/robotd" ./cmd/robotd
flags=(--launch launch/pickplace_diffusion.yaml --episodes "$n" --seed 0 --videos 0)
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before; $n episodes (seeds 0..$((n - 1)))"

shards() { # K: K concurrent shards into $out/sK/shard_I, all waited for
  local k=$1 pids=() i
  for ((i = 0; i < k; i++)); do
    "$out/robotd" eval "${flags[@]}" --shard "$i/$k" --out "$out/s$k/shard_$i" > "$out/s$k.$i.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
}
plain() { "$out/robotd" eval "${flags[@]}" --out "$out/plain" > "$out/plain.log" 2>&1 || true; }

# bash's time keyword: wall, and user + sys of the children reaped meanwhile.
TIMEFORMAT='%R %U %S'
measure() { local r; r=$({ time "$@" ; } 2>&1); awk '{print $1, $2 + $3}' <<< "$r"; }
report() { # LABEL WALL CPU BASEWALL
  awk -v l="$1" -v w="$2" -v c="$3" -v b="$4" -v n="$n" 'BEGIN {
    printf "%-24s wall %6.1f s  cpu %6.1f s  %5.0f episodes/core-hour  %5.0f episodes/hour  speed-up %.2f\n", l, w, c, n*3600/c, n*3600/w, b/w }'
}
read -r pw pc <<< "$(measure plain)"
declare -A W C
for k in 1 2 4; do read -r "W[$k]" "C[$k]" <<< "$(measure shards "$k")"; done
report "plain robotd eval" "$pw" "$pc" "${W[1]}"
for k in 1 2 4; do report "$k shard(s), isolated" "${W[$k]}" "${C[$k]}" "${W[1]}"; done
for k in 2 4; do
  dirs=(); for ((i = 0; i < k; i++)); do dirs+=("$out/s$k/shard_$i"); done
  "$out/robotd" eval merge --out "$out/m$k" "${dirs[@]}" > /dev/null || true
  python3 - "$out/s1/shard_0/eval.json" "$out/m$k/eval.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
same = a["per_episode"] == b["per_episode"]
print(f"merged {sys.argv[2]}: {b['successes']}/{b['episodes']}, per_episode equal to --shard 0/1: {same}")
sys.exit(0 if same else 1)
PY
done
python3 -c "import json; r = json.load(open('$out/plain/eval.json')); print('plain robotd eval: %d/%d' % (r['successes'], r['episodes']))"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
