#!/usr/bin/env bash
# bench.sh: run robotd's benchmarks and their peers in one run, and rewrite BENCHMARKS.md.
# Called by `make bench` (after scripts/setup.sh bench). Each row reports the median of
# ROUNDS runs; Go and its peer are interleaved round by round, so machine load hits both.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
ROUNDS=${ROUNDS:-5}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
# metric FILE BENCH UNIT: the values of one reported metric across rounds.
metric() { awk -v b="$2" -v u="$3" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=2;i<=NF;i++) if ($i==u) print $(i-1)}' "$1"; }

echo "building test binaries"
go test -c -o "$tmp/control.test" ./control/
go test -c -o "$tmp/mujoco.test" ./sim/mujoco/
go test -c -o "$tmp/onnx.test" ./policy/onnx/
go test -c -o "$tmp/cv.test" ./perception/cv/
THREADS=${THREADS:-1}   # ONNX Runtime and PyTorch intra-op threads

for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS"
  (cd control && "$tmp/control.test" -test.run '^$' -test.bench 'CartesianTick|ForwardKinematics' -test.benchmem) >> "$tmp/control.txt"
  /usr/bin/python3 tools/bench/impedance_numpy.py | sed 's/.*"us_per_tick": \([0-9.]*\).*/\1/' >> "$tmp/numpy.txt"; echo >> "$tmp/numpy.txt"
  (cd sim/mujoco && "$tmp/mujoco.test" -test.run '^$' -test.bench 'StepVsTestspeed' -test.benchtime 1x) >> "$tmp/mujoco.txt"
  (cd sim/mujoco && "$tmp/mujoco.test" -test.run '^$' -test.bench 'RenderRGB' -test.benchmem -test.benchtime 2s) >> "$tmp/mujoco.txt"
  (cd policy/onnx && ROBOTD_BENCH_THREADS=$THREADS "$tmp/onnx.test" -test.run '^$' -test.bench 'Model|Step/unet' -test.benchmem -test.benchtime 1s) >> "$tmp/onnx.txt"
  /usr/bin/python3 tools/bench/policy_torch.py --threads "$THREADS" --rounds 50 --warmup 5 >> "$tmp/torch.txt"
  (cd perception/cv && "$tmp/cv.test" -test.run '^$' -test.bench 'Pipeline' -test.benchmem) >> "$tmp/cv.txt"
  /usr/bin/python3 tools/bench/preprocess_cv2.py >> "$tmp/cv2.txt"
done

tick_ns=$(metric "$tmp/control.txt" BenchmarkCartesianTick ns/op | median)
tick_allocs=$(metric "$tmp/control.txt" BenchmarkCartesianTick allocs/op | median)
fk_ns=$(metric "$tmp/control.txt" BenchmarkForwardKinematics ns/op | median)
numpy_us=$(grep -v '^$' "$tmp/numpy.txt" | median)
go_sps=$(metric "$tmp/mujoco.txt" BenchmarkStepVsTestspeed steps/s | median)
c_sps=$(metric "$tmp/mujoco.txt" BenchmarkStepVsTestspeed testspeed-steps/s | median)
step_ratio=$(metric "$tmp/mujoco.txt" BenchmarkStepVsTestspeed ratio | median)
stepn_sps=$(metric "$tmp/mujoco.txt" BenchmarkStepVsTestspeed stepN-steps/s | median)
fps96=$(metric "$tmp/mujoco.txt" BenchmarkRenderRGB96 fps | median)
fps224=$(metric "$tmp/mujoco.txt" BenchmarkRenderRGB224 fps | median)

# policy rows: Go (ONNX Runtime) median in us, allocs, PyTorch median in us
policy_row() { # LABEL GO_BENCH TORCH_NAME
  local go_ns allocs torch_us
  go_ns=$(metric "$tmp/onnx.txt" "$2" ns/op | median)
  allocs=$(metric "$tmp/onnx.txt" "$2" allocs/op | median)
  torch_us=$(awk -v n="$3" '$1 == n {print $2}' "$tmp/torch.txt" | median)
  printf '| %s | %.0f us, %s allocs | %.0f us (PyTorch %s eager, same weights) | %.2f | <= 0.7 |\n' \
    "$1" "$(echo "$go_ns/1000" | bc -l)" "$allocs" "$torch_us" "$torch_version" "$(echo "$go_ns/1000/$torch_us" | bc -l)"
}
torch_version=$(/usr/bin/python3 -c 'import torch; print(torch.__version__.split("a")[0])')
ort_version=$(go run ./cmd/robotd version | awk '/^onnxruntime/ {print $2}')

# camera preprocessing rows: Go median in us, allocs, Python OpenCV + numpy median in us
preprocess_row() { # SIZE
  local go_ns allocs py_us
  go_ns=$(metric "$tmp/cv.txt" "BenchmarkPipeline/$1" ns/op | median)
  allocs=$(metric "$tmp/cv.txt" "BenchmarkPipeline/$1" allocs/op | median)
  py_us=$(awk -v n="preprocess_$1" '$1 == n {print $2}' "$tmp/cv2.txt" | median)
  printf '| camera preprocessing: 640x480 BGR frame, center crop 480x480, area resize to %sx%s, RGB, float CHW /255, mean/std | %.0f us, %s allocs | %.0f us (Python OpenCV %s + numpy, same steps, tools/bench/preprocess_cv2.py) | %.2f | < 300 us, faster than the peer |\n' \
    "$1" "$1" "$(echo "$go_ns/1000" | bc -l)" "$allocs" "$py_us" "$cv2_version" "$(echo "$go_ns/1000/$py_us" | bc -l)"
}
cv2_version=$(/usr/bin/python3 -c 'import cv2; print(cv2.__version__)')

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
load=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "# robotd benchmarks"
  echo
  echo "Written by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%d). Do not edit by hand."
  echo
  echo "- machine: $(nproc) cores, ${cpu:-unknown CPU}, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average at the end $load"
  echo "- software: $(go version | cut -d' ' -f3), onnxruntime $ort_version, torch $torch_version, libmujoco $(dpkg-query -W -f='${Version}' libmujoco-dev 2>/dev/null), numpy $(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')"
  echo "- method: median of $ROUNDS rounds; in each round robotd and its peer run back to back"
  echo
  echo "| what | robotd | peer | ratio | goal |"
  echo "|---|---|---|---|---|"
  printf '| Cartesian impedance tick, 7 DoF (FK, Jacobian, task + nullspace, rate limit, safety) | %.2f us, %s allocs | %.1f us (numpy, same law, tools/bench/impedance_numpy.py) | %.0fx faster | < 5 us, 0 allocs |\n' \
    "$(echo "$tick_ns/1000" | bc -l)" "$tick_allocs" "$numpy_us" "$(echo "$numpy_us*1000/$tick_ns" | bc -l)"
  printf '| forward kinematics + Jacobian, 7 DoF | %.2f us | | | |\n' "$(echo "$fk_ns/1000" | bc -l)"
  printf '| MuJoCo steps per second, sim/models/scene.xml, 20000 steps from qpos0, zero ctrl | %.0f /s (cgo binding) | %.0f /s (mujoco-testspeed, C) | %.3f | >= 0.95 |\n' \
    "$go_sps" "$c_sps" "$step_ratio"
  printf '| same, 20000 steps in one StepN call (C loop inside the Go process) | %.0f /s | %.0f /s (mujoco-testspeed, C) | %.3f | |\n' \
    "$stepn_sps" "$c_sps" "$(echo "$stepn_sps/$c_sps" | bc -l)"
  printf '| scene camera render, 96x96 RGB (update + render + read, OSMesa llvmpipe) | %.0f fps | | | |\n' "$fps96"
  printf '| scene camera render, 224x224 RGB | %.0f fps | | | |\n' "$fps224"
  policy_row "policy network, U-Net encoder (CNN on 2x 3x48x48 + state), batch 1" "BenchmarkModel/unet-encoder" unet_encoder
  policy_row "policy network, conditional 1D U-Net denoiser (DP-style, 16x7), batch 1" "BenchmarkModel/unet-denoiser" unet_denoiser
  policy_row "policy network, ACT-style transformer + CNN (3x64x64, 20x14 chunk), batch 1" "BenchmarkModel/act-policy" act_policy
  policy_row "policy network, flow-matching MLP denoiser (8x4), batch 1" "BenchmarkModel/flow-denoiser" flow_denoiser
  policy_row "full diffusion policy step: normalize, encoder, 10 DDIM steps (sampler in Go / Python), unnormalize" "BenchmarkStep/unet-ddim10" unet_policy_step
  preprocess_row 96
  preprocess_row 224
  echo
  echo "Policy rows: ONNX Runtime $ort_version through onnxruntime_go against PyTorch eager"
  echo "(torch.inference_mode) on the same fixture models (policy/testdata, random weights), both"
  echo "with $THREADS intra-op thread(s); ratio = robotd time / PyTorch time (lower is better). The"
  echo "allocs column is Go allocations per call after the first (sessions and tensors are made once)."
  echo "The peer is Debian's PyTorch build (generic BLAS, no MKL/oneDNN): a pip wheel on a"
  echo "workstation is faster, so these ratios flatter ONNX Runtime against that setup."
  echo
  echo "Preprocessing rows: perception/cv's Pipeline (one cgo call per frame, buffers made once;"
  echo "the area resize is robotd's own separable box filter fused with the RGB/CHW/mean-std pass,"
  echo "single-threaded) against cv2.resize(INTER_AREA) + cvtColor + numpy on the same pixels, with"
  echo "OpenCV's default thread count; ratio = robotd time / Python time (lower is better)."
  echo
  echo "Commands (what each round ran):"
  echo
  echo '```'
  echo "cd control && go test -run '^\$' -bench 'CartesianTick|ForwardKinematics' -benchmem"
  echo "/usr/bin/python3 tools/bench/impedance_numpy.py"
  echo "cd sim/mujoco && go test -run '^\$' -bench StepVsTestspeed -benchtime 1x"
  echo "cd sim/mujoco && go test -run '^\$' -bench RenderRGB -benchmem -benchtime 2s"
  echo "cd policy/onnx && ROBOTD_BENCH_THREADS=$THREADS go test -run '^\$' -bench 'Model|Step/unet' -benchmem -benchtime 1s"
  echo "/usr/bin/python3 tools/bench/policy_torch.py --threads $THREADS --rounds 50 --warmup 5"
  echo "cd perception/cv && go test -run '^\$' -bench Pipeline -benchmem"
  echo "/usr/bin/python3 tools/bench/preprocess_cv2.py"
  echo '```'
  echo
  echo "The render rows have no peer: MuJoCo's Python bindings are not installable here, and"
  echo "mujoco-testspeed does not render. BenchmarkStepVsTestspeed runs mujoco-testspeed itself"
  echo "on the same model and workload, alternating with the binding five times and keeping"
  echo "each side's best rate (interference on this shared machine only ever slows a run down)."
  # Sections of their own: each scripts/bench.d/*.sh runs its ROUNDS rounds (robotd and its
  # peer interleaved) and prints a markdown section (heading, table, commands) on stdout.
  for part in scripts/bench.d/*.sh; do
    [ -e "$part" ] || continue
    echo
    ROUNDS=$ROUNDS BENCH_TMP="$tmp" bash "$part"
  done
} > BENCHMARKS.md
cat BENCHMARKS.md
