#!/usr/bin/python3
"""Python client of robotd env: the lockstep pick-and-place task on robotd's exact deploy path.

robotd env (docs/env.md) serves the task over a local socket; this client speaks its
protocol with the standard library and numpy only (torch tensors are accepted as actions
when torch is installed). The API is the one gym users know:

    env = RobotdEnv(socket="out/robotd_env.sock")
    obs, info = env.reset(seed=0, mode="residual")      # info["base"]: the base chunk
    while True:
        correction = np.zeros_like(info["base"][info["prefix"]:])
        obs, reward, terminated, truncated, info = env.step(correction)
        if terminated or truncated:
            break
    env.close()

obs maps feature names ("observation.state", "observation.images.scene" with images=True,
"privileged.cube"... with privileged=True) to float32 arrays. Privileged arrays are the
simulator's ground truth: for critics trained with privileged information, never for a
model that is deployed.

    python3 tools/train/robotd_env.py --socket out/robotd_env.sock --bench
        episodes and steps per second for the base policy and for each mode.
    python3 tools/train/robotd_env.py --socket PATH --outcomes 2 --seed 3 --modes policy,residual
        one JSON line per episode with robotd eval's outcome fields (the Go tests use it).
"""

import argparse
import json
import socket as socketlib
import struct
import sys
import time

import numpy as np

MODES = ("policy", "chunk", "noise", "residual")


class EnvError(RuntimeError):
    """An error reply of the server (the connection stays usable)."""


class RobotdEnv:
    """A connection to robotd env: reset/step/close, one episode at a time."""

    def __init__(self, socket=None, tcp=None, timeout=None):
        if (socket is None) == (tcp is None):
            raise ValueError("give socket (a Unix socket path) or tcp ('host:port'), not both")
        if socket is not None:
            self.sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(socket)
        else:
            host, port = tcp.rsplit(":", 1)
            self.sock = socketlib.create_connection((host, int(port)), timeout=timeout)
            self.sock.setsockopt(socketlib.IPPROTO_TCP, socketlib.TCP_NODELAY, 1)
        self.mode = None
        self.rate = None
        self._info = None

    # --- framing -------------------------------------------------------------------------

    def _send(self, header, arrays=()):
        header = dict(header)
        payload = []
        specs = []
        for name, a in arrays:
            a = _to_numpy(a)
            specs.append({"name": name, "shape": list(a.shape), "dtype": "float32"})
            payload.append(a.astype("<f4", copy=False).tobytes(order="C"))
        if specs:
            header["arrays"] = specs
        h = json.dumps(header).encode()
        self.sock.sendall(struct.pack("<I", len(h)) + h + b"".join(payload))

    def _recv_exact(self, n):
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self.sock.recv_into(view[got:], n - got)
            if k == 0:
                raise ConnectionError("robotd env closed the connection")
            got += k
        return bytes(buf)

    def _recv(self):
        (hl,) = struct.unpack("<I", self._recv_exact(4))
        header = json.loads(self._recv_exact(hl))
        arrays = {}
        specs = header.get("arrays", [])
        sizes = [int(np.prod(s["shape"], dtype=np.int64)) for s in specs]
        raw = self._recv_exact(4 * sum(sizes))
        off = 0
        for s, n in zip(specs, sizes):
            arrays[s["name"]] = np.frombuffer(raw, dtype="<f4", count=n, offset=off).reshape(s["shape"])
            off += 4 * n
        if header.get("type") == "error":
            raise EnvError(header.get("error", "unknown error"))
        return header, arrays

    def _request(self, header, arrays=()):
        self._send(header, arrays)
        return self._recv()

    # --- API -----------------------------------------------------------------------------

    def info(self):
        """What the server serves: action_dim, horizon, chunk_rows, samples, bounds, features."""
        if self._info is None:
            h, _ = self._request({"type": "info"})
            self._info = h["info"]
        return self._info

    def reset(self, seed=0, mode="policy", rate="chunk", camera_noise=0.0, latency_ms=0.0,
              images=False, privileged=False, fresh=False):
        """Start the episode of seed; returns (obs, info) at the first decision.

        mode: what the steps of this episode decide ("policy", "chunk", "noise",
        "residual"; any step may also be "policy"). rate "action" (modes policy and
        residual) decides each action instead of each chunk. camera_noise (8-bit levels)
        and latency_ms (0: the launch file's) rebuild the server's system when they
        change, as fresh=True does (the episode then equals a one-episode robotd eval).
        """
        self.mode, self.rate = mode, rate
        h, arrays = self._request({"type": "reset", "seed": int(seed), "mode": mode, "rate": rate,
                                   "camera_noise": float(camera_noise), "latency_ms": float(latency_ms),
                                   "images": bool(images), "privileged": bool(privileged), "fresh": bool(fresh)})
        obs, info, _, _, _ = _split(h, arrays)
        return obs, info

    def step(self, action=None, mode=None):
        """Answer the pending decision; returns (obs, reward, terminated, truncated, info).

        action None lets the base policy act (mode "policy"). Otherwise, by the episode's
        mode: chunk, actions [chunk_rows, A] in dataset units (its first info["prefix"]
        rows execute while the chunk is computed: keep the base's); noise, [samples,
        horizon, A] normalized; residual, the correction [chunk_rows - prefix, A] (rate
        chunk) or [A] (rate action) in normalized units, scaled and clipped by the server.
        """
        if mode is None:
            mode = "policy" if action is None else self.mode
        names = {"chunk": "actions", "noise": "noise", "residual": "correction"}
        arrays = () if mode == "policy" else ((names[mode], action),)
        h, arrays = self._request({"type": "step", "mode": mode}, arrays)
        obs, info, reward, terminated, truncated = _split(h, arrays)
        return obs, reward, terminated, truncated, info

    def close(self):
        """Abandon the episode under way and close the connection."""
        try:
            self._request({"type": "close"})
        except (OSError, ConnectionError, EnvError):
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _to_numpy(a):
    if hasattr(a, "detach"):  # a torch tensor
        a = a.detach().cpu().numpy()
    return np.ascontiguousarray(a, dtype=np.float32)


def _split(h, arrays):
    """Observation arrays, the info dict, reward, terminated, truncated."""
    obs = {k: v for k, v in arrays.items() if k.startswith("observation.") or k.startswith("privileged.")}
    info = {k: v for k, v in h.items() if k not in ("type", "arrays")}
    info.setdefault("prefix", 0)
    for k in ("base.chunk", "base.action"):
        if k in arrays:
            info["base"] = arrays[k]
    done = bool(h.get("done", False))
    timeout = bool(h.get("timeout", False))
    return obs, info, float(h.get("reward", 0.0)), done and not timeout, done and timeout


# --- command line ----------------------------------------------------------------------


def run_episode(env, seed, mode, rate="chunk", rng=None, **reset):
    """One episode in mode with a neutral or random decision; returns (steps, last info)."""
    info = env.info()
    obs, step_info = env.reset(seed=seed, mode=mode, rate=rate, **reset)
    steps = 0
    while True:
        if mode == "policy":
            action = None
        elif mode == "chunk":
            action = step_info["base"]  # replay the base chunk: the base policy's outcome
        elif mode == "noise":
            action = rng.standard_normal((info["samples"], info["horizon"], info["action_dim"])).astype(np.float32)
        elif mode == "residual":
            base = step_info["base"]
            action = np.zeros_like(base if rate == "action" else base[step_info["prefix"]:])
        obs, reward, terminated, truncated, step_info = env.step(action)
        steps += 1
        if terminated or truncated:
            return steps, step_info


def bench(env, episodes, seed):
    info = env.info()
    print(f"robotd env: {info['launch']} (policy {info['bundle']}, {info['samples']} candidate(s), "
          f"chunk {info['chunk_rows']} x {info['action_dim']}, policy period {info['policy_dt']} s)")
    print(f"{'mode':<18} {'episodes':>8} {'steps':>6} {'wall s':>7} {'episodes/s':>10} {'steps/s':>8} {'sim/wall':>8} {'success':>7}")
    rng = np.random.default_rng(0)
    for mode, rate, extra in (("policy", "chunk", False), ("policy", "chunk", True), ("chunk", "chunk", False),
                              ("noise", "chunk", False), ("residual", "chunk", False), ("residual", "action", False)):
        steps = succ = 0
        sim = 0.0
        t = time.perf_counter()
        for i in range(episodes):
            n, last = run_episode(env, seed + i, mode, rate, rng, images=extra, privileged=extra)
            steps += n
            succ += bool(last.get("success"))
            sim += last.get("time", 0.0)
        wall = time.perf_counter() - t
        label = mode if rate == "chunk" else f"{mode} per action"
        if extra:
            label += " +images"
        print(f"{label:<18} {episodes:>8} {steps:>6} {wall:>7.2f} {episodes / wall:>10.3f} {steps / wall:>8.1f} "
              f"{sim / wall:>8.2f} {succ:>4}/{episodes}")


def round_trip(env, n=2000):
    """Mean time of an info request and its reply (the protocol alone), seconds."""
    env.info()
    t = time.perf_counter()
    for _ in range(n):
        env._request({"type": "info"})
    return (time.perf_counter() - t) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket", help="robotd env's Unix socket")
    ap.add_argument("--tcp", help="robotd env's loopback TCP address (host:port)")
    ap.add_argument("--bench", action="store_true", help="episodes and steps per second per mode")
    ap.add_argument("--episodes", type=int, default=2, help="episodes per mode (--bench)")
    ap.add_argument("--outcomes", type=int, default=0, help="run N episodes per mode, print their outcomes as JSON lines")
    ap.add_argument("--modes", default="policy", help="--outcomes: comma-separated policy, chunk, residual, residual-action")
    ap.add_argument("--seed", type=int, default=0, help="first episode's seed")
    ap.add_argument("--fresh", action="store_true", help="--outcomes: a fresh system for each episode (as a one-episode robotd eval)")
    ap.add_argument("--camera-noise", type=float, default=0.0)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    args = ap.parse_args()
    if (args.socket is None) == (args.tcp is None):
        ap.error("give --socket or --tcp")
    env = RobotdEnv(socket=args.socket, tcp=args.tcp)
    try:
        if args.bench:
            bench(env, args.episodes, args.seed)
            print(f"protocol round trip (info request and reply): {round_trip(env) * 1e6:.0f} us")
        for mode in args.modes.split(",") if args.outcomes else ():
            rate = "chunk"
            if mode == "residual-action":
                mode, rate = "residual", "action"
            for i in range(args.outcomes):
                steps, last = run_episode(env, args.seed + i, mode, rate, np.random.default_rng(i), fresh=args.fresh,
                                          camera_noise=args.camera_noise, latency_ms=args.latency_ms)
                print(json.dumps({"mode": mode, "rate": rate, "steps": steps, "outcome": last.get("outcome"),
                                  "fault": last.get("fault", "")}), flush=True)
    finally:
        env.close()


if __name__ == "__main__":
    sys.exit(main())
