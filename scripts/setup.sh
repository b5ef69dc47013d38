#!/usr/bin/env bash
# setup.sh: install everything robotd needs on a bare Debian 12 machine.
#
#   scripts/setup.sh          build + test dependencies (Debian packages, ONNX Runtime)
#   scripts/setup.sh bench    also the benchmark peers and fixture generators
#   scripts/setup.sh train    the same: what tools/train needs (torch, onnx, OpenBLAS)
#   scripts/setup.sh slurm    also Slurm and munge, for the sharded-evaluation test
#                             (make test-slurm; make test runs it as root without systemd)
#
# Idempotent: when everything is present it only checks and returns (well under a second).
# Recipes and their pitfalls: ../shared/SETUP.md.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
profile=${1:-test}

# Debian packages, grouped as in SETUP.md.
pkgs_run=(libopencv-dev libmujoco-dev libosmesa6-dev ffmpeg pkg-config python3-prometheus-client
          python3-av    # python3-av: episode/ tests decode the videos with PyAV, as LeRobot does
          python3-numpy)  # env/ tests drive robotd env with tools/train/robotd_env.py
# chromium: the operator page's test drives it headless (tools/viz-peers/page_check.js).
pkgs_viz=(chromium)
pkgs_ros=(ros-core python3-rospy python3-rosbag python3-rostopic
          python3-std-msgs python3-sensor-msgs python3-geometry-msgs python3-diagnostic-msgs
          python3-trajectory-msgs)
# libopenblas0-pthread: Debian's torch calls the system BLAS, which is otherwise the
# reference BLAS (tools/train's transformer and U-Net steps are several times slower on it).
pkgs_bench=(python3-torch python3-onnx python3-opencv libmujoco-samples bc libopenblas0-pthread)
# Slurm 22.05 and munge: scripts/slurm/cluster.sh starts them by hand for TestSlurmEval. Not
# in the default profile: on a machine with systemd their packages enable and start
# daemons (slurmctld, slurmd, munge) at install and at every boot, which building and
# testing robotd should not do to a developer's machine; CI containers (root, no systemd)
# get them from make test.
pkgs_slurm=(slurmctld slurmd slurm-client munge)

want=("${pkgs_run[@]}" "${pkgs_ros[@]}" "${pkgs_viz[@]}")
case "$profile" in
  test|demo) ;;
  bench|train) want+=("${pkgs_bench[@]}") ;;
  slurm) want+=("${pkgs_slurm[@]}") ;;
  all) want+=("${pkgs_bench[@]}" "${pkgs_slurm[@]}") ;;
  *) echo "setup.sh: unknown profile '$profile' (want: test, demo, bench, train, slurm, all)" >&2; exit 2 ;;
esac

# node and npm: the DuckDB check of episode/ (below); Debian's when the machine has none.
command -v npm >/dev/null || want+=(nodejs npm)

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ONNX Runtime 1.24.3: the shared library shipped inside the npm package onnxruntime-node.
ort_dir="$here/.cache/onnxruntime"
ort_lib="$ort_dir/libonnxruntime.so.1.24.3"
ort_url=${ROBOTD_NPM_REGISTRY:-https://registry.npmjs.org}/onnxruntime-node/-/onnxruntime-node-1.24.3.tgz
ort_sha1=ec8da99c335aa5ea95559a3ac1ae915a89541d5e   # the registry's dist.shasum of that tarball
if [ ! -s "$ort_lib" ]; then
  echo "setup: fetching ONNX Runtime 1.24.3 (npm package onnxruntime-node, 86 MB)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tgz="$tmp/onnxruntime-node-1.24.3.tgz"
  if command -v curl >/dev/null; then
    curl -fsSL --retry 3 -o "$tgz" "$ort_url"
  elif command -v npm >/dev/null; then
    (cd "$tmp" && npm pack --silent onnxruntime-node@1.24.3 >/dev/null)
  else
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$ort_url" "$tgz"
  fi
  echo "$ort_sha1  $tgz" | sha1sum -c --quiet - || { echo "setup: $ort_url: checksum mismatch" >&2; exit 1; }
  tar xzf "$tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  mkdir -p "$ort_dir"
  mv "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ort_lib.part"
  mv "$ort_lib.part" "$ort_lib"
fi
ln -sf "$(basename "$ort_lib")" "$ort_dir/libonnxruntime.so"

# DuckDB (npm @duckdb/node-api; its native binary is an npm dependency too): the
# independent parquet reader episode/ tests check the datasets robotd writes with.
duck_dir="$here/.cache/duckdb"
duck_ver=1.5.6-r.1
if ! grep -qs "\"version\": \"$duck_ver\"" "$duck_dir/node_modules/@duckdb/node-api/package.json"; then
  if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    echo "setup: node and npm not found (Debian packages nodejs npm did not install them): cannot install DuckDB for the episode/ tests" >&2
    exit 1
  fi
  echo "setup: installing DuckDB $duck_ver (npm @duckdb/node-api) into .cache/duckdb"
  mkdir -p "$duck_dir"
  [ -f "$duck_dir/package.json" ] || echo '{"name": "robotd-duckdb", "private": true}' > "$duck_dir/package.json"
  (cd "$duck_dir" && npm install --silent --no-audit --no-fund --registry "${ROBOTD_NPM_REGISTRY:-https://registry.npmjs.org}" "@duckdb/node-api@$duck_ver" >/dev/null)
fi

# The viz tests' independent peers (npm @mcap/core with @foxglove/wasm-zstd, @foxglove/ws-protocol,
# ws), at the versions tools/viz-peers/package-lock.json pins.
viz_dir="$here/tools/viz-peers"
if ! [ -d "$viz_dir/node_modules/@mcap/core" ] || ! [ -d "$viz_dir/node_modules/@foxglove/wasm-zstd" ] ||
   ! [ -d "$viz_dir/node_modules/@foxglove/ws-protocol" ] || ! [ -d "$viz_dir/node_modules/ws" ]; then
  echo "setup: installing the viz test peers (npm ci in tools/viz-peers)"
  (cd "$viz_dir" && npm ci --silent --no-audit --no-fund --registry "${ROBOTD_NPM_REGISTRY:-https://registry.npmjs.org}" >/dev/null)
fi
