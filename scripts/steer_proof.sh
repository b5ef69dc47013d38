#!/usr/bin/env bash
# steer_proof.sh: issue 19's proof. The reference diffusion policy and each steering method
# (launch/pickplace_diffusion_<method>.yaml) run by `robotd eval` in lockstep through the
# whole daemon path on the same seeds: clean on seeds 0..99, with camera noise 8 and 16
# and with +50 ms of modelled inference latency (70 ms in all) on seeds 0..49. Each
# evaluation goes to $OUT/<method>/<condition>/ and is skipped when its eval.json exists, so
# an interrupted run continues where it stopped. Then the table (markdown on stdout, and
# $OUT/table.md): successes, 95 % Wilson interval, seeds gained and lost against the base
# policy with McNemar's exact p (robotd eval compare), and the steered step's wall time
# p50/p99 with the share of the executor's budget it uses (p99 over 700 ms: the inpaint
# executor's chunk period of 800 ms less the 100 ms it keeps for the hand-over).
#
#   scripts/steer_proof.sh                          # every method, every condition (~1 h here)
#   METHODS="base value" CONDS=clean scripts/steer_proof.sh
#   TABLE_ONLY=1 scripts/steer_proof.sh             # the table from what has run
#   CONDS="latency50 noise16" scripts/steer_proof.sh &   # a second run beside the first
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
OUT=${OUT:-out/proof}
METHODS=${METHODS:-base bid past value noise residual steered}
CONDS=${CONDS:-clean noise8 noise16 latency50}
ROBOTD=${ROBOTD:-$OUT/robotd}
mkdir -p "$OUT"
# One binary for every row: built once (REBUILD=1 builds it again, e.g. after a change the
# whole table should be measured again with).
if [ ! -x "$ROBOTD" ] || [ -n "${REBUILD:-}" ]; then go build -o "$ROBOTD" ./cmd/robotd; fi

launch_of() { if [ "$1" = base ]; then echo launch/pickplace_diffusion.yaml; else echo "launch/pickplace_diffusion_$1.yaml"; fi; }
flags_of() {
  case $1 in
    clean) echo "--episodes 100" ;;
    noise8) echo "--episodes 50 --camera-noise 8" ;;
    noise16) echo "--episodes 50 --camera-noise 16" ;;
    latency50) echo "--episodes 50 --latency 70ms" ;;
    *) echo "unknown condition $1" >&2; exit 2 ;;
  esac
}

if [ -z "${TABLE_ONLY:-}" ]; then
  for c in $CONDS; do
    for m in $METHODS; do
      d="$OUT/$m/$c"
      [ -f "$d/eval.json" ] && continue
      lf=$(launch_of "$m")
      [ -f "$lf" ] || { echo "steer_proof: $lf missing, $m skipped" >&2; continue; }
      mkdir -p "$(dirname "$d")"
      # Runs of this script side by side (other CONDS or METHODS orders) take an evaluation
      # each: the lock is the evaluation's. A run killed midway leaves it: remove $d.lock.
      mkdir "$d.lock" 2>/dev/null || { echo "steer_proof: $m, $c runs elsewhere ($d.lock)" >&2; continue; }
      echo "steer_proof: $m, $c ($(date +%H:%M:%S))" >&2
      rm -rf "$d.tmp"
      # Exit 3 means some episode ended by the policy fault: the evaluation still counts.
      code=0; "$ROBOTD" eval --launch "$lf" --seed 0 $(flags_of "$c") --videos 0 --out "$d.tmp" > "$d.log" 2>&1 || code=$?
      if [ "$code" != 0 ] && [ "$code" != 3 ]; then echo "steer_proof: $m $c failed (exit $code, $d.log)" >&2; rmdir "$d.lock"; continue; fi
      mv "$d.tmp" "$d"; rmdir "$d.lock"
    done
  done
fi

# The table: one row per method, one column group per condition.
/usr/bin/python3 - "$OUT" "$ROBOTD" $METHODS -- $CONDS <<'PY' | tee "$OUT/table.md"
import json, os, re, subprocess, sys
out, robotd = sys.argv[1], sys.argv[2]
rest = sys.argv[3:]; k = rest.index("--"); methods, conds = rest[:k], rest[k + 1:]
names = {"clean": "clean, seeds 0..99", "noise8": "camera noise 8, 0..49",
         "noise16": "camera noise 16, 0..49", "latency50": "+50 ms latency, 0..49"}
budget_ms = 700.0
def compare(a, b):
    """Seeds gained and lost by b against a, and McNemar's exact p: robotd eval compare's
    "discordant" line."""
    r = subprocess.run([robotd, "eval", "compare", a, b], capture_output=True, text=True)
    m = re.search(r"discordant\s+(\d+) lost .*?, (\d+) gained; McNemar exact p = ([0-9.e-]+)", r.stdout)
    return (int(m.group(2)), int(m.group(1)), float(m.group(3))) if m else None
for c in conds:
    print(f"\n### {names.get(c, c)}\n")
    print("| method | solved | 95 % Wilson | vs base: gained / lost, McNemar p | step p50 / p99 (ms) | budget used (p99 / 700 ms) |")
    print("|---|---|---|---|---|---|")
    base = os.path.join(out, "base", c)
    for m in methods:
        d = os.path.join(out, m, c)
        if not os.path.exists(os.path.join(d, "eval.json")):
            print(f"| {m} | not run | | | | |"); continue
        r = json.load(open(os.path.join(d, "eval.json")))
        lo, hi = r["wilson95"]; inf = r["inference"]
        cmp = "" if m == "base" else compare(base, d)
        vs = "" if m == "base" else ("n/a" if cmp is None else f"+{cmp[0]} / -{cmp[1]}, p {cmp[2]:.2g}")
        print(f"| {m} | **{r['successes']}/{r['episodes']}** | {100*lo:.1f} .. {100*hi:.1f} % | {vs} | "
              f"{inf['p50_ms']:.1f} / {inf['p99_ms']:.1f} | {100*inf['p99_ms']/budget_ms:.0f} % |")
PY
