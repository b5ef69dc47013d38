#!/usr/bin/env bash
# steer.sh: a steered step of the reference diffusion policy (models/pickplace_diffusion)
# with N = 1, 4, 8, 16 candidates and each scorer, robotd (policy/steer
# BenchmarkPolicyStep, ONNX Runtime) against PyTorch eager (tools/train/steer_bench.py) in
# the same rounds, and the largest N whose p99 fits the executor's budget
# (BenchmarkPolicyStepBudget). A section of BENCHMARKS.md (see README.md here); progress
# on stderr, markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
ROUNDS=${ROUNDS:-3}
STEPS=${STEER_BENCH_STEPS:-20}        # timed steps per configuration and round (Go)
TORCH_STEPS=${STEER_BENCH_TORCH_STEPS:-10}
BUDGET_N=${ROBOTD_STEER_BUDGET_N:-32,48,64,80,96,112}
THREADS=${THREADS:-1}
tmp=${BENCH_TMP:-}
if [ -z "$tmp" ]; then tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; fi
tmp="$tmp/steer"; mkdir -p "$tmp"

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
metric() { awk -v b="$2" -v u="$3" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=2;i<=NF;i++) if ($i==u) print $(i-1)}' "$1"; }
best() { sort -g | head -1 | awk '{print} END {if (NR==0) print "nan"}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0 || a == "nan" || b == "nan") print "n/a"; else printf "%.2f", a/b}'; }
py=/usr/bin/python3

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "steer: building the steer test binary and robotd" >&2
go test -c -o "$tmp/steer.test" ./policy/steer/
go build -o "$tmp/robotd" ./cmd/robotd
echo "steer: writing the value bundle, checking the torch peer against robotd" >&2
$py tools/train/steer_bench.py --write-value "$tmp/value" 2> >(grep -v Warning >&2)
check=$( ($py tools/train/steer_bench.py --check "$tmp/robotd" 2>&1 || true) | sed -n 's/.*normalized actions \([0-9.e+-]*\).*/\1/p')

go_out="$tmp/go.txt" torch_out="$tmp/torch.txt" budget_out="$tmp/budget.txt"
: > "$go_out"; : > "$torch_out"; : > "$budget_out"
for r in $(seq "$ROUNDS"); do
  echo "steer: round $r/$ROUNDS" >&2
  (cd policy/steer && ROBOTD_BENCH_THREADS=$THREADS ROBOTD_STEER_VALUE_BUNDLE="$tmp/value" "$tmp/steer.test" \
    -test.run '^$' -test.bench '^BenchmarkPolicyStep$' -test.benchtime "${STEPS}x" -test.benchmem) | tee -a "$go_out" >&2
  $py tools/train/steer_bench.py --threads "$THREADS" --reps "$TORCH_STEPS" --warmup 2 2> >(grep -v Warning >&2) | tee -a "$torch_out" >&2
  (cd policy/steer && ROBOTD_BENCH_THREADS=$THREADS ROBOTD_STEER_VALUE_BUNDLE="$tmp/value" ROBOTD_STEER_BUDGET_N="$BUDGET_N" \
    "$tmp/steer.test" -test.run '^$' -test.bench '^BenchmarkPolicyStepBudget$' -test.benchtime "${STEPS}x") | tee -a "$budget_out" >&2
done

# The executor's budget (see the text below): the inpaint executor wants the next chunk
# once n_action_steps actions have come due; the running chunk covers horizon - n_obs_steps
# + 1 - n_action_steps more actions.
yaml=models/pickplace_diffusion/policy.yaml
key() { awk -v k="$1:" '$1 == k {print $2}' "$yaml"; }
H=$(key horizon) NOBS=$(key n_obs_steps) NACT=$(key n_action_steps) HZ=$(key control_rate_hz)
dt_ms=$(awk -v hz="$HZ" 'BEGIN {print 1000/hz}')
budget=$(awk -v h="$H" -v o="$NOBS" -v a="$NACT" -v dt="$dt_ms" 'BEGIN {print (h-o+1-a)*dt}')
period=$(awk -v a="$NACT" -v dt="$dt_ms" 'BEGIN {print a*dt}')

# largest N of "all" whose median-over-rounds p99 is within a limit, over both benchmarks
p99all() { # N
  if [ "$1" -le 16 ]; then metric "$go_out" "BenchmarkPolicyStep/N=$1/all" p99-ms | median
  else metric "$budget_out" "BenchmarkPolicyStepBudget/N=$1/all" p99-ms | median; fi
}
all_n="1 4 8 16 ${BUDGET_N//,/ }"
largest() { # LIMIT_MS: the largest N tried that fits ("none"; ">= N" when the largest tried fits)
  local best=none n p last=
  for n in $all_n; do
    last=$n
    p=$(p99all "$n")
    if awk -v p="$p" -v l="$1" 'BEGIN {exit !(p != "nan" && p <= l)}'; then best=$n; fi
  done
  if [ "$best" = "$last" ]; then best=">= $best (the largest tried)"; fi
  echo "$best"
}
fit_budget=$(largest "$budget") fit_period=$(largest "$period")

ort=$("$tmp/robotd" version | awk '/^onnxruntime/ {print $2}')
tv=$($py -c 'import torch; print(torch.__version__.split("a")[0])')

echo "## Steering: the reference diffusion policy's step with N candidates and each scorer"
echo
echo "| what | robotd | peer | ratio | goal |"
echo "|---|---|---|---|---|"
for n in 1 4 8 16; do
  for s in plain coherence contrast past value all; do
    b="BenchmarkPolicyStep/N=$n/$s"
    g50=$(metric "$go_out" "$b" p50-ms | best); g99=$(metric "$go_out" "$b" p99-ms | median)
    allocs=$(metric "$go_out" "$b" allocs/op | median)
    t50=$(awk -v k="N=$n/$s" '$1 == k {print $2}' "$torch_out" | best)
    t99=$(awk -v k="N=$n/$s" '$1 == k {print $3}' "$torch_out" | median)
    printf '| N = %s, %s | %.1f ms (p99 %.1f), %s allocs | %.1f ms (p99 %.1f) | %s | |\n' \
      "$n" "$s" "$g50" "$g99" "$allocs" "$t50" "$t99" "$(ratio "$g50" "$t50")"
  done
done
for n in ${BUDGET_N//,/ }; do
  b="BenchmarkPolicyStepBudget/N=$n/all"
  printf '| N = %s, all (budget search) | %.1f ms (p99 %.1f) | | | |\n' "$n" \
    "$(metric "$budget_out" "$b" p50-ms | best)" "$(p99all "$n")"
done
printf '| largest N, all four scorers, p99 within the budget of %s ms | %s | | | p99 <= %s ms |\n' "$budget" "$fit_budget" "$budget"
printf '| largest N, all four scorers, p99 within one chunk period of %s ms | %s | | | p99 <= %s ms |\n' "$period" "$fit_period" "$period"
echo
echo "A step: normalize the observation history, the encoder once, 10 DDIM steps of the"
echo "denoiser on N rows in one batched call, the N candidates unnormalized (whole horizon,"
echo "past steps included) and validated, then the scorer(s) and selection (policy.Step with"
echo "StepOptions{Samples: N, Normalized: true}, steer.Candidates.Unnormalize, steer.Steer.Step)."
echo "plain: no scorer, the first valid candidate. coherence: BID backward, beta 0.5, against a"
echo "running plan that started n_action_steps actions ago. contrast: BID forward, K = max(1, N/3),"
echo "against N samples of a weak policy; the stand-in is the same bundle loaded again, so the row"
echo "pays two policy steps. past: the predicted past against a 64-action history. value: a value"
echo "bundle for this policy (Q(state, executed window 15x10), MLP 256 wide, random weights,"
echo "written by tools/train/steer_bench.py --write-value) on the N candidates in one call. all:"
echo "the four, softmax selection."
echo
echo "Peer: tools/train/steer_bench.py, the same networks in PyTorch $tv eager (train.py's"
echo "models.DiffusionPolicy with the bundle's weights read from its ONNX files; against"
echo "\`robotd policy run\` on the same observation and noise its normalized actions differ by"
echo "${check:-n/a}), tools/train/ref_sampler.py's DDIM and tools/train/steer_ref.py's scorers and"
echo "selection (the Go scorers' references), the same value model. ONNX Runtime $ort and PyTorch"
echo "with $THREADS intra-op thread(s), as the policy rows above. Each round times $STEPS (robotd) /"
echo "$TORCH_STEPS (PyTorch) steps per row after a warm-up and takes their median (p50) and 99th"
echo "percentile (p99; with that few steps, the round's slowest step). The table gives the best"
echo "round's p50 (other jobs on this machine only ever slow a step down, as for the MuJoCo row"
echo "above) and the median over $ROUNDS rounds of the p99 (what a deployment beside other work"
echo "would see). ratio = robotd p50 / PyTorch p50 (lower is better). Allocations: Go allocations"
echo "per step after the first with that N."
echo
echo "Budget: ${budget} ms = (horizon $H - n_obs_steps $NOBS + 1 - n_action_steps $NACT) x ${dt_ms} ms."
echo "The reference launch files run the inpaint executor, which wants the next chunk once"
echo "n_action_steps actions of the running one have come due; that chunk holds $((H - NOBS + 1 - NACT))"
echo "more actions, so a step slower than ${budget} ms starves the executor (it holds the last"
echo "action). n_action_steps x dt = ${period} ms is the period at which chunks are"
echo "requested, the looser bound (a step slower than that falls behind for good). The search uses"
echo "the most expensive configuration (all: two policy steps, the value model, every scorer);"
echo "plain costs about half. Load average (2 cores shared with other jobs: interference only"
echo "slows a step down, and it shows most in the p99) at the start: $load0; at the end:"
echo "$(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "Commands (what each round ran):"
echo
echo '```'
echo "/usr/bin/python3 tools/train/steer_bench.py --write-value \$TMP/value   # once"
echo "cd policy/steer && ROBOTD_BENCH_THREADS=$THREADS ROBOTD_STEER_VALUE_BUNDLE=\$TMP/value go test -run '^\$' -bench '^BenchmarkPolicyStep\$' -benchtime ${STEPS}x -benchmem"
echo "/usr/bin/python3 tools/train/steer_bench.py --threads $THREADS --reps $TORCH_STEPS --warmup 2"
echo "cd policy/steer && ROBOTD_STEER_VALUE_BUNDLE=\$TMP/value ROBOTD_STEER_BUDGET_N=$BUDGET_N go test -run '^\$' -bench '^BenchmarkPolicyStepBudget\$' -benchtime ${STEPS}x"
echo '```'
echo
echo "Section written by \`ROUNDS=$ROUNDS scripts/bench.d/steer.sh\` (part of \`make bench\`)."
