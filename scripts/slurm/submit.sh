#!/usr/bin/env bash
# submit.sh: run a robotd evaluation (or a sweep) as a Slurm array, one task per shard,
# then a dependent merge job. Run it from the checkout on the cluster's shared filesystem,
# with scripts/setup.sh already run there (ONNX Runtime in .cache/).
#
#   scripts/slurm/submit.sh --shards N --out DIR [--sbatch "ARGS"] -- EVAL_FLAGS...
#       robotd eval EVAL_FLAGS in N shards (DIR/shard_I), merged into DIR
#   scripts/slurm/submit.sh --sweep SPEC.yaml [--sbatch "ARGS"]
#       every shard job of the sweep, then its table (robotd eval sweep SPEC --table)
#
# It builds robotd once into DIR/robotd (or the sweep's out/robotd) unless $ROBOTD names a
# binary, prints the array and merge job IDs (last line: "merge job ID"), and logs each task
# in DIR/logs/. --sbatch passes extra sbatch flags (partition, account, time limit) to both.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
shards=1 out="" sweep="" extra=""
while [ $# -gt 0 ]; do
  case $1 in
    --shards) shards=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --sweep) sweep=$2; shift 2 ;;
    --sbatch) extra=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "submit.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
command -v sbatch >/dev/null || { echo "submit.sh: sbatch not found (a Slurm client; scripts/setup.sh slurm)" >&2; exit 1; }

quote() { local a q=""; for a in "$@"; do q+=" $(printf '%q' "$a")"; done; echo "${q# }"; }

if [ -n "$sweep" ]; then
  sweep=$(cd "$(dirname "$sweep")" && pwd)/$(basename "$sweep")
  root=$(sed -n 's/^out:[[:space:]]*//p' "$sweep" | head -1)
  [ -n "$root" ] || { echo "submit.sh: $sweep has no out:" >&2; exit 1; }
  case $root in /*) ;; *) root=$(dirname "$sweep")/$root ;; esac
else
  [ -n "$out" ] || { echo "submit.sh: --out DIR required" >&2; exit 2; }
  [ "$shards" -ge 1 ] 2>/dev/null || { echo "submit.sh: --shards $shards: want at least 1" >&2; exit 2; }
  root=$out
fi
mkdir -p "$root/logs"
root=$(cd "$root" && pwd)

if [ -z "${ROBOTD:-}" ]; then
  echo "submit.sh: building robotd into $root/robotd"
  (cd "$here" && PATH=$PATH:/usr/local/go/bin go build -o "$root/robotd" ./cmd/robotd)
  ROBOTD=$root/robotd
fi
export ROBOTD

jobs=$root/jobs.txt
if [ -n "$sweep" ]; then
  "$ROBOTD" eval sweep "$sweep" --plan "$jobs"
  merge=(eval sweep "$sweep" --table)
else
  : > "$jobs"
  dirs=()
  for ((i = 0; i < shards; i++)); do
    quote eval "$@" --shard "$i/$shards" --out "$root/shard_$i" >> "$jobs"
    dirs+=("$root/shard_$i")
  done
  merge=(eval merge --out "$root" "${dirs[@]}")
fi
n=$(wc -l < "$jobs")

# shellcheck disable=SC2086
array=$(sbatch --parsable $extra --array=0-$((n - 1)) --chdir="$here" --export=ALL \
  --output="$root/logs/shard_%A_%a.log" "$here/scripts/slurm/eval_array.sbatch" "$jobs")
array=${array%%;*}
# shellcheck disable=SC2086
merge_id=$(sbatch --parsable $extra --dependency=afterany:"$array" --chdir="$here" --export=ALL \
  --output="$root/logs/merge_%j.log" "$here/scripts/slurm/merge.sbatch" "${merge[@]}")
merge_id=${merge_id%%;*}
echo "array job $array: $n shard job(s) from $jobs; logs in $root/logs"
echo "merge job $merge_id"
