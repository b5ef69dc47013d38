#!/usr/bin/python3
"""Trains a bounded residual on top of the frozen reference diffusion policy by off-policy
reinforcement learning through `robotd env` (docs/env.md), and exports it as a steering
bundle of kind residual (docs/steering.md) that robotd runs per action:

    go build -o out/robotd ./cmd/robotd
    /usr/bin/python3 tools/train/train_residual.py --robotd out/robotd --servers 2 \\
        --episodes 1500 --run out/residual_rl --export models/pickplace_residual

    policy:
      steering:
        residual: {bundle: ../models/pickplace_residual, bound: 0.1, rate: action}

The method is ResFiT's (Ankile et al. 2025, "Residual Off-Policy RL for Finetuning Behavior
Cloning Policies", arXiv:2509.19301), written for robotd's interface:

- The base policy is a black box: robotd env runs it on the exact deploy path (lockstep
  daemon, ONNX Runtime, inpainting executor) and, in mode residual at rate action, asks for
  a correction c of each action as it becomes due (every policy period, 0.1 s).
- Actor: models.py's ResidualMLP with a zero-initialized last layer, wrapped so its output
  is (bound / scale) * tanh(mlp(state, a_base)): robotd multiplies by scale and clips to
  +-bound, so the applied correction is bound * tanh(.), inside the bound by construction,
  and exactly 0 before training (training starts at the base policy, bit for bit). The
  actor sees only what the deployed bundle sees: observation.state and the base action,
  normalized as the policy bundle normalizes them (min_max or mean_std with its
  stats.json), each value clamped to +-5 (inside the exported graph too).
- Critic (asymmetric actor-critic): two Q networks with LayerNorm (clipped double Q, as
  TD3) over (normalized state, normalized base action, applied correction / bound) plus,
  when the env offers them, the simulator's privileged state (cube pose, tool pose, finger
  opening: ground truth a real arm does not have; only the critic, which is not deployed,
  takes them) and the episode time / 30 s (the task's timeout, so that treating the timeout
  as terminal keeps the target Markov).
- Sparse reward: 1 on the terminal step of a successful episode, else 0. n-step returns
  (default n = 3, gamma 0.99), target policy smoothing, delayed actor updates, Polyak
  target networks; a replay buffer of every transition (first in, first out beyond
  --buffer). The actor is frozen for the first --warmup episodes (critic warm-up on the
  base policy plus exploration noise).
- Exploration: Gaussian noise of std --noise times the bound on the applied correction,
  then clipped to +-bound: exploration never moves an action further than a deployed
  residual may.

Parallelism: one robotd env server per core (--servers, each its own Unix socket, started
and stopped here, or --sockets for servers already running) and one worker process per
server that runs whole episodes with the latest actor weights; the learner (this process,
--threads torch threads) takes their transitions and runs --utd gradient updates per new
transition. Episode seeds start at --seed-base (default 100000), disjoint from the
evaluation seeds 0..99. --camera-noise gives the servers' camera noise (a comma-separated
list assigned round-robin, e.g. 0,8).

Every --checkpoint-every episodes the run directory (--run) gets checkpoint.pt (networks,
optimizers, the replay buffer, counters, random states) and the bundle is exported;
--resume continues from it. A progress line per --log-every episodes: episodes, success
rate of the last 20, mean critic loss, mean |Q|, mean applied |c|, episodes/s.

    /usr/bin/python3 tools/train/train_residual.py --run out/residual_rl --export-only --export DIR
        writes the bundle from the run's checkpoint.

Debian's python3 with torch 1.13 (CPU), numpy, onnx and yaml.
"""
import argparse
import collections
import datetime
import json
import math
import multiprocessing as mp
import os
import queue
import signal
import socket as socketlib
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bundle import export  # noqa: E402
from models import ResidualMLP  # noqa: E402
from robotd_env import RobotdEnv  # noqa: E402

# INPUT_CLAMP bounds every normalized actor input: a dimension the dataset never varied
# (e.g. an ee_pose_6d rotation entry with max - min ~ 1e-7) normalizes to huge values
# when the policy strays from it by a hair.
INPUT_CLAMP = 5.0
# TIMEOUT_S is the pick-and-place task's episode timeout (docs/task.md): the critic's time
# feature is time / TIMEOUT_S.
TIMEOUT_S = 30.0
STATE = "observation.state"


# ----------------------------------------------------------------------------------------
# Normalization and networks
# ----------------------------------------------------------------------------------------

class Normalizer:
    """A feature's normalization as robotd's policy/norm.go applies it: mean_std
    (x - mean) / (std + 1e-8), min_max (x - min) / (max - min + 1e-8) * 2 - 1, identity."""

    def __init__(self, mode, stats, key):
        self.mode = mode
        if mode == "identity":
            self.scale, self.shift = None, None
            return
        if key not in stats:
            raise ValueError(f"stats.json: no statistics for {key} (normalization {mode})")
        s = stats[key]
        if mode == "mean_std":
            self.scale = np.asarray(s["std"], np.float64) + 1e-8
            self.shift = np.asarray(s["mean"], np.float64)
        elif mode == "min_max":
            lo, hi = np.asarray(s["min"], np.float64), np.asarray(s["max"], np.float64)
            self.scale = (hi - lo + 1e-8) / 2
            self.shift = lo + self.scale
        else:
            raise ValueError(f"policy.yaml: features: {key}: unknown normalization {mode!r}")

    def __call__(self, x):
        x = np.asarray(x, np.float64)
        if self.scale is None:
            return x.astype(np.float32)
        return ((x - self.shift) / self.scale).astype(np.float32)


def policy_features(bundle_dir):
    """The policy bundle's horizon, n_obs_steps, state and action (shape, normalization)
    and the normalizers of both."""
    path = os.path.join(bundle_dir, "policy.yaml")
    with open(path) as f:
        py = yaml.safe_load(f)
    feats = py["features"]
    for k in (STATE, "action"):
        if k not in feats:
            raise ValueError(f"{path}: features: no {k} (the residual takes the state and the base action)")
    with open(os.path.join(bundle_dir, py.get("stats", "stats.json"))) as f:
        stats = json.load(f)
    return {
        "horizon": int(py["horizon"]), "n_obs_steps": int(py["n_obs_steps"]),
        "state": (list(feats[STATE]["shape"]), feats[STATE]["normalization"]),
        "action": (list(feats["action"]["shape"]), feats["action"]["normalization"]),
        "norm_state": Normalizer(feats[STATE]["normalization"], stats, STATE),
        "norm_action": Normalizer(feats["action"]["normalization"], stats, "action"),
    }


class ResidualActor(nn.Module):
    """The deployed residual: forward(observation.state [B,S], action [B,A], both normalized
    as the policy bundle normalizes them) -> residual [B,A] = out_scale * tanh(mlp(clamped
    inputs)), out_scale = bound / scale, so robotd's scale-and-clip applies bound * tanh(.)
    and leaves it unchanged. The MLP is models.py's ResidualMLP, last layer zero: the
    untrained actor returns exactly 0."""

    def __init__(self, state_dim, action_dim, hidden, out_scale):
        super().__init__()
        self.mlp = ResidualMLP(state_dim, action_dim, hidden=hidden, zero_init=True)
        self.register_buffer("out_scale", torch.tensor(float(out_scale)))

    def forward(self, state, action):
        s = torch.clamp(state, -INPUT_CLAMP, INPUT_CLAMP)
        a = torch.clamp(action, -INPUT_CLAMP, INPUT_CLAMP)
        return self.out_scale * torch.tanh(self.mlp(s, a))


class Critic(nn.Module):
    """Two Q networks (clipped double Q) with LayerNorm: Q(critic input [B,D], c/bound
    [B,A]) -> [2, B]. The input is clamped to +-INPUT_CLAMP, as the actor's."""

    def __init__(self, in_dim, action_dim, hidden):
        super().__init__()

        def q():
            return nn.Sequential(nn.Linear(in_dim + action_dim, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))
        self.qs = nn.ModuleList([q(), q()])

    def forward(self, x, c):
        xc = torch.cat([torch.clamp(x, -INPUT_CLAMP, INPUT_CLAMP), c], dim=-1)
        return torch.stack([m(xc).squeeze(-1) for m in self.qs])


# ----------------------------------------------------------------------------------------
# Rollouts (worker processes)
# ----------------------------------------------------------------------------------------

def critic_extra(obs, info, priv_names):
    """The critic's privileged features: the privileged arrays in priv_names' order and
    time / TIMEOUT_S (zeros where the observation carries none: the terminal one)."""
    parts = [np.asarray(obs[n], np.float32).ravel() if n in obs else np.zeros(size, np.float32)
             for n, size in priv_names]
    parts.append(np.array([info.get("time", 0.0) / TIMEOUT_S], np.float32))
    return np.concatenate(parts)


def run_episode(env, actor, feats, cfg, seed, noise_std, rng, camera_noise):
    """One residual-per-action episode with the actor plus bounded Gaussian noise. Returns
    a dict of per-step arrays (actor input, critic extra, applied correction / bound) for
    the decisions taken, the sparse reward, success and the outcome."""
    bound, scale = cfg["bound"], cfg["scale"]
    obs, info = env.reset(seed=seed, mode="residual", rate="action", privileged=cfg["privileged"],
                          camera_noise=camera_noise)
    xs, extras, cs = [], [], []
    reward, success, steps, last = 0.0, False, 0, info
    while info.get("decision") == "action":
        s = feats["norm_state"](obs[STATE])
        a = feats["norm_action"](info["base"])
        with torch.no_grad():
            r = actor(torch.from_numpy(s[None]), torch.from_numpy(a[None]))[0].numpy()
        c = np.clip(scale * r, -bound, bound)
        if noise_std > 0:
            c = np.clip(c + rng.normal(0.0, noise_std * bound, c.shape), -bound, bound)
        c = c.astype(np.float32)
        xs.append(np.concatenate([s, a]))
        extras.append(critic_extra(obs, info, cfg["priv_names"]))
        cs.append(c / bound)
        obs, rew, terminated, truncated, info = env.step(c / scale)
        reward += rew
        steps += 1
        last = info
        if terminated or truncated:
            break
    success = bool(last.get("success", False))
    return {"x": np.asarray(xs, np.float32).reshape(steps, -1), "extra": np.asarray(extras, np.float32).reshape(steps, -1),
            "c": np.asarray(cs, np.float32).reshape(steps, -1), "success": success, "reward": reward,
            "fault": last.get("fault", ""), "outcome": last.get("outcome"), "seed": seed, "steps": steps,
            "sim_time": float(last.get("time", 0.0))}


def worker_main(idx, sock, cfg, jobs, results):
    """A worker: one connection to one server; runs an episode per job (seed, actor state
    dict, noise std) and puts its transitions on results. None ends it."""
    torch.set_num_threads(1)
    feats = policy_features(cfg["bundle"])
    actor = ResidualActor(cfg["state_dim"], cfg["action_dim"], cfg["hidden"], cfg["bound"] / cfg["scale"]).eval()
    rng = np.random.default_rng(cfg["seed"] * 1000 + idx)
    env = RobotdEnv(socket=sock)
    try:
        while True:
            job = jobs.get()
            if job is None:
                break
            seed, state, noise_std, camera_noise = job
            actor.load_state_dict(state)
            try:
                ep = run_episode(env, actor, feats, cfg, seed, noise_std, rng, camera_noise)
            except Exception as e:  # noqa: BLE001: reported to the learner, which stops
                results.put((idx, {"error": f"worker {idx} ({sock}), seed {seed}: {e!r}"}))
                break
            results.put((idx, ep))
    finally:
        env.close()


# ----------------------------------------------------------------------------------------
# Replay buffer with n-step returns
# ----------------------------------------------------------------------------------------

class Replay:
    """Transitions (x, extra, c/bound, n-step return, discount, next x, next extra) in
    preallocated arrays, first in first out beyond capacity."""

    def __init__(self, capacity, x_dim, e_dim, a_dim):
        self.cap, self.n, self.i = capacity, 0, 0
        self.x = np.zeros((capacity, x_dim), np.float32)
        self.e = np.zeros((capacity, e_dim), np.float32)
        self.c = np.zeros((capacity, a_dim), np.float32)
        self.ret = np.zeros(capacity, np.float32)
        self.disc = np.zeros(capacity, np.float32)  # gamma^m, 0 where the window hit a terminal
        self.x2 = np.zeros((capacity, x_dim), np.float32)
        self.e2 = np.zeros((capacity, e_dim), np.float32)

    def add_episode(self, ep, nstep, gamma):
        """Adds an episode's n-step transitions. The episode ends in a terminal state
        (success, fault or the task's timeout, time being in the critic's input): the
        sparse reward is the last step's, and windows reaching the end do not bootstrap."""
        T = ep["steps"]
        if T == 0:
            return 0
        r = np.zeros(T, np.float32)
        r[-1] = ep["reward"]
        for t in range(T):
            end = min(t + nstep, T)
            ret = sum(gamma ** (k - t) * r[k] for k in range(t, end))
            j = self.i
            self.x[j], self.e[j], self.c[j], self.ret[j] = ep["x"][t], ep["extra"][t], ep["c"][t], ret
            if end < T:
                self.disc[j] = gamma ** (end - t)
                self.x2[j], self.e2[j] = ep["x"][end], ep["extra"][end]
            else:
                self.disc[j] = 0.0
                self.x2[j], self.e2[j] = ep["x"][t], ep["extra"][t]  # unused (disc 0)
            self.i = (self.i + 1) % self.cap
            self.n = min(self.n + 1, self.cap)
        return T

    def sample(self, rng, batch):
        idx = rng.integers(0, self.n, batch)
        return [torch.from_numpy(a[idx]) for a in (self.x, self.e, self.c, self.ret, self.disc, self.x2, self.e2)]

    def state(self):
        n = self.n
        return {"cap": self.cap, "n": n, "i": self.i,
                **{k: getattr(self, k)[:n].copy() for k in ("x", "e", "c", "ret", "disc", "x2", "e2")}}

    def load(self, st):
        n = min(st["n"], self.cap)
        for k in ("x", "e", "c", "ret", "disc", "x2", "e2"):
            getattr(self, k)[:n] = st[k][:n]
        self.n, self.i = n, st["i"] % self.cap


# ----------------------------------------------------------------------------------------
# Learner
# ----------------------------------------------------------------------------------------

class Learner:
    """TD3-style updates of the critic and the (bounded) actor."""

    def __init__(self, cfg, args):
        S, A = cfg["state_dim"], cfg["action_dim"]
        self.S, self.A = S, A
        self.args = args
        self.actor = ResidualActor(S, A, args.actor_hidden, cfg["bound"] / cfg["scale"])
        self.actor_t = ResidualActor(S, A, args.actor_hidden, cfg["bound"] / cfg["scale"])
        self.actor_t.load_state_dict(self.actor.state_dict())
        self.critic = Critic(S + A + cfg["extra_dim"], A, args.critic_hidden)
        self.critic_t = Critic(S + A + cfg["extra_dim"], A, args.critic_hidden)
        self.critic_t.load_state_dict(self.critic.state_dict())
        self.opt_a = torch.optim.Adam(self.actor.parameters(), lr=args.actor_lr)
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=args.critic_lr)
        self.bound, self.scale = cfg["bound"], cfg["scale"]
        self.updates = 0
        self.stats = collections.deque(maxlen=200)

    def applied(self, actor, x):
        """The correction robotd applies for the actor's output, divided by the bound
        (in [-1, 1])."""
        r = actor(x[:, :self.S], x[:, self.S:])
        return torch.clamp(self.scale * r, -self.bound, self.bound) / self.bound

    def update(self, replay, rng, train_actor):
        a = self.args
        x, e, c, ret, disc, x2, e2 = replay.sample(rng, a.batch)
        with torch.no_grad():
            c2 = self.applied(self.actor_t, x2)
            noise = torch.clamp(torch.randn_like(c2) * a.target_noise, -a.target_noise_clip, a.target_noise_clip)
            c2 = torch.clamp(c2 + noise, -1.0, 1.0)
            q2 = self.critic_t(torch.cat([x2, e2], -1), c2).min(0).values
            y = ret + disc * q2
        q = self.critic(torch.cat([x, e], -1), c)
        loss_c = F.mse_loss(q, y.expand_as(q))
        self.opt_c.zero_grad()
        loss_c.backward()
        self.opt_c.step()
        self.updates += 1
        loss_a = float("nan")
        if train_actor and self.updates % a.actor_delay == 0:
            ca = self.applied(self.actor, x)
            qa = self.critic(torch.cat([x, e], -1), ca).mean(0)
            loss = -qa.mean() + a.residual_penalty * (ca ** 2).sum(-1).mean()
            self.opt_a.zero_grad()
            loss.backward()
            self.opt_a.step()
            loss_a = float(loss)
            soft(self.actor_t, self.actor, a.tau)
        soft(self.critic_t, self.critic, a.tau)
        self.stats.append((float(loss_c), float(q.abs().mean())))
        return loss_c, loss_a

    def state(self):
        return {k: getattr(self, k).state_dict() for k in ("actor", "actor_t", "critic", "critic_t", "opt_a", "opt_c")} | \
            {"updates": self.updates}

    def load(self, st):
        for k in ("actor", "actor_t", "critic", "critic_t", "opt_a", "opt_c"):
            getattr(self, k).load_state_dict(st[k])
        self.updates = st["updates"]


def soft(target, src, tau):
    with torch.no_grad():
        for pt, p in zip(target.parameters(), src.parameters()):
            pt.mul_(1 - tau).add_(p, alpha=tau)


# ----------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------

def export_bundle(actor, cfg, out, training):
    """Writes the steering bundle out/{model.onnx, steer.yaml, training.json}: kind
    residual, inputs observation.state and action normalized with the policy bundle's
    statistics (no stats of its own), output residual, a dynamic batch axis."""
    os.makedirs(out, exist_ok=True)
    S, A = cfg["state_dim"], cfg["action_dim"]
    actor = actor.eval()
    export(actor, (torch.zeros(3, S), torch.zeros(3, A)), os.path.join(out, "model.onnx"),
           [STATE, "action"], ["residual"])
    (sshape, snorm), (ashape, anorm) = cfg["state"], cfg["action"]
    with open(os.path.join(out, "steer.yaml"), "w") as f:
        f.write(f"# Residual trained by RL through robotd env (tools/train/train_residual.py), on top of\n"
                f"# {cfg['bundle_name']}; trained with scale {cfg['scale']:g}, bound {cfg['bound']:g}, rate action:\n"
                f"# deploy with policy.steering.residual {{bundle: DIR, scale: {cfg['scale']:g}, bound: {cfg['bound']:g}, rate: action}}.\n"
                f"kind: residual\nmodel: model.onnx\nhorizon: {cfg['horizon']}\nn_obs_steps: {cfg['n_obs_steps']}\n"
                f"features:\n"
                f"  observation.state: {{shape: {list(sshape)}, normalization: {snorm}}}\n"
                f"  action:            {{shape: {list(ashape)}, normalization: {anorm}}}\n"
                f"output: residual\n")
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(training, f, indent=1)
        f.write("\n")


# ----------------------------------------------------------------------------------------
# Servers
# ----------------------------------------------------------------------------------------

def start_servers(args, run_dir):
    """Starts --servers robotd env servers on Unix sockets in the run directory; returns
    (processes, sockets) once each accepts connections."""
    procs, socks = [], []
    for i in range(args.servers):
        sock = os.path.join(run_dir, f"env{i}.sock")
        if os.path.exists(sock):
            os.remove(sock)
        log = open(os.path.join(run_dir, f"env{i}.log"), "w")
        p = subprocess.Popen(["nice", "-n", str(args.server_nice), args.robotd, "env", "--launch", args.launch,
                              "--socket", sock], stdout=log, stderr=subprocess.STDOUT)
        procs.append(p)
        socks.append(sock)
    deadline = time.time() + 180
    for p, sock in zip(procs, socks):
        while True:
            if p.poll() is not None:
                stop_servers(procs)
                raise RuntimeError(f"robotd env for {sock} exited with {p.returncode} (see its log beside it)")
            if os.path.exists(sock):
                try:
                    s = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
                    s.connect(sock)
                    s.close()
                    break
                except OSError:
                    pass
            if time.time() > deadline:
                stop_servers(procs)
                raise RuntimeError(f"robotd env did not serve {sock} within 180 s")
            time.sleep(0.2)
    return procs, socks


def stop_servers(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ----------------------------------------------------------------------------------------
# Main loop
# ----------------------------------------------------------------------------------------

def env_config(sock, args):
    """Reads the server's info and the policy bundle: dimensions, bound and scale,
    privileged arrays."""
    with RobotdEnv(socket=sock) as env:
        info = env.info()
    feats = policy_features(info["bundle"])
    S = int(np.prod(feats["state"][0]))
    A = int(info["action_dim"])
    if int(np.prod(feats["action"][0])) != A:
        raise ValueError(f"{info['bundle']}: action shape {feats['action'][0]} but robotd env's action_dim is {A}")
    priv = [] if args.no_privileged else [(p["name"], int(np.prod(p["shape"]))) for p in info.get("privileged", [])]
    return {"bundle": info["bundle"], "bundle_name": os.path.basename(info["bundle"].rstrip("/")),
            "launch": info["launch"], "state_dim": S, "action_dim": A, "horizon": feats["horizon"],
            "n_obs_steps": feats["n_obs_steps"], "state": feats["state"], "action": feats["action"],
            "bound": float(info["residual_bound"]), "scale": float(info["residual_scale"]),
            "priv_names": priv, "privileged": bool(priv), "extra_dim": sum(n for _, n in priv) + 1,
            "hidden": args.actor_hidden, "seed": args.seed, "info": info}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="run directory: checkpoint.pt, progress.jsonl, servers' sockets and logs")
    ap.add_argument("--export", help="steering bundle directory written at every checkpoint and at the end (default RUN/bundle)")
    ap.add_argument("--export-only", action="store_true", help="write the bundle from RUN/checkpoint.pt and exit")
    ap.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    ap.add_argument("--robotd", default="out/robotd", help="robotd binary (go build -o out/robotd ./cmd/robotd)")
    ap.add_argument("--launch", default="launch/pickplace_diffusion.yaml", help="launch file the servers serve")
    ap.add_argument("--servers", type=int, default=os.cpu_count() or 1, help="robotd env servers to start (default: one per core)")
    ap.add_argument("--sockets", help="comma-separated sockets of servers already running (instead of starting --servers)")
    ap.add_argument("--server-nice", type=int, default=5, help="nice level of the started servers")
    ap.add_argument("--camera-noise", default="0", help="comma-separated camera noise (8-bit levels) per server, round-robin")
    ap.add_argument("--episodes", type=int, default=1500, help="total training episodes")
    ap.add_argument("--seed", type=int, default=0, help="torch and numpy seed")
    ap.add_argument("--seed-base", type=int, default=100000, help="first episode's env seed (keep clear of the evaluation seeds)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the learner")
    ap.add_argument("--warmup", type=int, default=20, help="episodes before the actor is trained (critic warm-up)")
    ap.add_argument("--noise", type=float, default=0.3, help="exploration noise std, in units of the bound")
    ap.add_argument("--nstep", type=int, default=3)
    ap.add_argument("--gamma", type=float, default=0.99)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--utd", type=float, default=0.5, help="gradient updates per new transition")
    ap.add_argument("--buffer", type=int, default=300000, help="replay capacity, transitions")
    ap.add_argument("--actor-lr", type=float, default=1e-4)
    ap.add_argument("--critic-lr", type=float, default=3e-4)
    ap.add_argument("--actor-hidden", type=int, default=256)
    ap.add_argument("--critic-hidden", type=int, default=256)
    ap.add_argument("--actor-delay", type=int, default=2, help="critic updates per actor update")
    ap.add_argument("--tau", type=float, default=0.005, help="Polyak rate of the target networks")
    ap.add_argument("--target-noise", type=float, default=0.2, help="target policy smoothing std, units of the bound")
    ap.add_argument("--target-noise-clip", type=float, default=0.5, help="target policy smoothing clip, units of the bound")
    ap.add_argument("--residual-penalty", type=float, default=0.0, help="actor loss weight of the mean squared c/bound")
    ap.add_argument("--no-privileged", action="store_true", help="the critic sees no privileged state")
    ap.add_argument("--checkpoint-every", type=int, default=50, help="episodes between checkpoints (and exports)")
    ap.add_argument("--log-every", type=int, default=5, help="episodes between progress lines")
    return ap.parse_args(argv)


def save_checkpoint(path, learner, replay, state):
    tmp = path + ".tmp"
    torch.save({"learner": learner.state(), "replay": replay.state(), **state}, tmp)
    os.replace(tmp, path)


def training_record(cfg, args, done, history, learner):
    last = history[-100:]
    return {"method": "ResFiT-style residual RL (TD3, n-step, sparse reward) through robotd env, rate action",
            "launch": cfg["launch"], "policy_bundle": cfg["bundle"], "bound": cfg["bound"], "scale": cfg["scale"],
            "critic_privileged": [n for n, _ in cfg["priv_names"]], "episodes": done, "updates": learner.updates,
            "success_last_100": (sum(h["success"] for h in last) / len(last)) if last else None,
            "args": {k: v for k, v in vars(args).items()},
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


# ----------------------------------------------------------------------------------------
# The training run (shared with train_noise.py)
# ----------------------------------------------------------------------------------------

class Run:
    """What an off-policy trainer through robotd env supplies to train(): its networks,
    replay, workers and reporting. train() does the rest, the same for every trainer:
    SIGTERM handling, --export-only, the env servers, one worker per server running whole
    episodes with the latest actor, n-step replay with --utd updates owed per new item,
    progress lines and progress.jsonl, checkpoints with the bundle, --resume."""

    name = ""            # the banner's and training.json's name of the method
    unit = "transitions"  # what the replay holds, as progress lines and progress.jsonl say
    update_batch = 50    # updates between two polls of the workers, at most

    def env_config(self, sock, args):
        raise NotImplementedError

    def learner(self, cfg, args):
        raise NotImplementedError

    def replay(self, cfg, args):
        raise NotImplementedError

    def worker(self, i, sock, cfg, args, jobs, results):
        """The worker process's target and arguments."""
        raise NotImplementedError

    def banner(self, cfg, args):
        """What the run trains, after its name and before the episode count."""
        raise NotImplementedError

    def explore(self, args, episode):
        """The exploration std of the episode with this index."""
        raise NotImplementedError

    def episode(self, ep, cfg):
        """A finished episode's own fields of its history entry."""
        raise NotImplementedError

    def progress(self, args, done, last, s_per_update):
        """The progress fields after |Q| (dict, line text) and after episodes/s (dict)."""
        raise NotImplementedError

    def record(self, cfg, args, done, history, learner):
        """training.json."""
        raise NotImplementedError

    def export(self, learner, cfg, out, record, args):
        """Writes the bundle; args are the command line's."""
        raise NotImplementedError


def train(args, run):
    # A SIGTERM (kill, a scheduler's time limit) unwinds like Ctrl-C, through the finally
    # below that stops the workers and the env servers this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    torch.set_num_threads(args.threads)
    os.makedirs(args.run, exist_ok=True)
    ckpt_path = os.path.join(args.run, "checkpoint.pt")
    export_dir = args.export or os.path.join(args.run, "bundle")

    if args.export_only:
        ck = torch.load(ckpt_path)
        cfg, a = ck["cfg"], argparse.Namespace(**ck["args"])
        learner = run.learner(cfg, a)
        learner.load(ck["learner"])
        run.export(learner, cfg, export_dir, run.record(cfg, a, ck["done"], ck["history"], learner), args)
        print(f"wrote {export_dir} from {ckpt_path} ({ck['done']} episodes)")
        return 0

    procs, socks = [], []
    if args.sockets:
        socks = args.sockets.split(",")
    else:
        procs, socks = start_servers(args, args.run)
    workers = []
    try:
        cfg = run.env_config(socks[0], args)
        ctx = mp.get_context("spawn")
        torch.manual_seed(args.seed)
        rng = np.random.default_rng(args.seed)
        learner = run.learner(cfg, args)
        replay = run.replay(cfg, args)
        done, history = 0, []
        if args.resume:
            ck = torch.load(ckpt_path)
            learner.load(ck["learner"])
            replay.load(ck["replay"])
            done, history = ck["done"], ck["history"]
            rng = ck["rng"]
            torch.set_rng_state(ck["torch_rng"])
            print(f"resumed {ckpt_path}: {done} episodes, {replay.n} {run.unit}, {learner.updates} updates", flush=True)
        noises = [float(x) for x in args.camera_noise.split(",")]
        results = ctx.Queue()
        jobs = []
        for i, sock in enumerate(socks):
            q = ctx.Queue()
            target, wargs = run.worker(i, sock, cfg, args, q, results)
            w = ctx.Process(target=target, args=wargs, daemon=True)
            w.start()
            workers.append((w, q))
            jobs.append(q)
        print(f"{run.name}: {cfg['launch']} ({cfg['bundle_name']}), {len(socks)} server(s), {run.banner(cfg, args)}, "
              f"{args.episodes} episodes from seed {args.seed_base}", flush=True)

        next_ep = done
        in_flight = 0

        def dispatch(i):
            nonlocal next_ep, in_flight
            if next_ep >= args.episodes:
                return
            state = {k: v.clone() for k, v in learner.actor.state_dict().items()}
            jobs[i].put((args.seed_base + next_ep, state, run.explore(args, next_ep), noises[i % len(noises)]))
            next_ep += 1
            in_flight += 1

        for i in range(len(socks)):
            dispatch(i)
        t0, done0 = time.time(), done
        owed = 0.0
        upd_time, upd_n = 0.0, 0
        while in_flight > 0:
            try:
                i, ep = results.get(timeout=0.05 if (owed >= 1 and replay.n >= args.batch) else 5)
            except queue.Empty:
                i, ep = None, None
            if ep is not None:
                in_flight -= 1
                if "error" in ep:
                    raise RuntimeError(ep["error"])
                n = replay.add_episode(ep, args.nstep, args.gamma)
                owed += args.utd * n
                done += 1
                history.append({"seed": ep["seed"], "success": ep["success"], "steps": ep["steps"],
                                **run.episode(ep, cfg), "fault": ep["fault"]})
                dispatch(i)
                if done % args.log_every == 0 or in_flight == 0:
                    last = history[-20:]
                    rate = (done - done0) / max(time.time() - t0, 1e-9)
                    cl = np.mean([s[0] for s in learner.stats]) if learner.stats else float("nan")
                    qm = np.mean([s[1] for s in learner.stats]) if learner.stats else float("nan")
                    own, text, tail = run.progress(args, done, last, upd_time / upd_n if upd_n else None)
                    line = {"episodes": done, "success_last20": sum(h["success"] for h in last) / len(last),
                            "critic_loss": cl, "q_abs": qm, **own, run.unit: replay.n, "updates": learner.updates,
                            "episodes_per_s": rate, **tail}
                    print(f"episodes {done:5d}  success(last 20) {line['success_last20']:.2f}  critic loss {cl:.4g}  "
                          f"|Q| {qm:.3f}  {text}  {run.unit} {replay.n}  updates {learner.updates}  "
                          f"{rate:.3f} episodes/s", flush=True)
                    with open(os.path.join(args.run, "progress.jsonl"), "a") as f:
                        f.write(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v)
                                            for k, v in line.items()}) + "\n")
                if done % args.checkpoint_every == 0 or in_flight == 0:
                    save_checkpoint(ckpt_path, learner, replay, {"done": done, "history": history, "rng": rng,
                                                                 "torch_rng": torch.get_rng_state(), "cfg": cfg,
                                                                 "args": vars(args)})
                    run.export(learner, cfg, export_dir, run.record(cfg, args, done, history, learner), args)
                    print(f"checkpoint {ckpt_path}, bundle {export_dir} ({done} episodes)", flush=True)
            # Updates owed for the items collected, a bounded batch between polls so that
            # finished episodes are picked up (and workers re-dispatched) promptly.
            if replay.n >= args.batch:
                k = min(int(owed), run.update_batch)
                t = time.perf_counter()
                for _ in range(k):
                    learner.update(replay, rng, train_actor=done >= args.warmup)
                if k:
                    upd_time += time.perf_counter() - t
                    upd_n += k
                owed -= k
        return 0
    finally:
        for w, q in workers:
            q.put(None)
        for w, q in workers:
            w.join(timeout=30)
            if w.is_alive():
                w.terminate()
        stop_servers(procs)


class ResidualRun(Run):
    name = "residual RL"
    unit = "transitions"
    update_batch = 50

    def env_config(self, sock, args):
        return env_config(sock, args)

    def learner(self, cfg, args):
        return Learner(cfg, args)

    def replay(self, cfg, args):
        return Replay(args.buffer, cfg["state_dim"] + cfg["action_dim"], cfg["extra_dim"], cfg["action_dim"])

    def worker(self, i, sock, cfg, args, jobs, results):
        wcfg = {k: cfg[k] for k in ("bundle", "state_dim", "action_dim", "hidden", "bound", "scale", "priv_names",
                                    "privileged", "seed")}
        return worker_main, (i, sock, wcfg, jobs, results)

    def banner(self, cfg, args):
        return (f"bound {cfg['bound']:g}, scale {cfg['scale']:g}, "
                f"critic privileged {[n for n, _ in cfg['priv_names']]}")

    def explore(self, args, episode):
        return args.noise

    def episode(self, ep, cfg):
        return {"c_mean": float(np.abs(ep["c"]).mean() * cfg["bound"]) if ep["steps"] else 0.0}

    def progress(self, args, done, last, s_per_update):
        c = float(np.mean([h["c_mean"] for h in last]))
        return {"c_abs": c}, f"|c| {c:.4f}", {}

    def record(self, cfg, args, done, history, learner):
        return training_record(cfg, args, done, history, learner)

    def export(self, learner, cfg, out, record, args):
        export_bundle(learner.actor, cfg, out, record)


def main(argv=None):
    return train(parse_args(argv), ResidualRun())


if __name__ == "__main__":
    sys.exit(main())
