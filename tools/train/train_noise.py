#!/usr/bin/python3
"""Trains a DSRL noise policy for the frozen reference diffusion policy by off-policy
reinforcement learning through `robotd env` (docs/env.md), and exports it as a steering
bundle of kind noise (docs/steering.md, "Noise policy (DSRL)") that
`policy.steering.noise.bundle` loads:

    go build -o out/robotd ./cmd/robotd
    /usr/bin/python3 tools/train/train_noise.py --robotd out/robotd --servers 2 \\
        --camera-noise 0,8 --episodes 600 --run out/noise_rl --export models/pickplace_noise

    policy:
      steering:
        samples: 1
        noise: {bundle: ../models/pickplace_noise}

The method is DSRL's (Wagenmaker et al. 2025, "Steering Your Diffusion Policy with Latent
Space Reinforcement Learning", arXiv:2506.15799): the diffusion policy with its
deterministic sampler (DDIM, eta 0) is a frozen map from the initial noise w [horizon, A]
to an action chunk, and RL learns which w to start from, given the observation. The
policy's weights are never touched; robotd env runs it on the exact deploy path (lockstep
daemon, ONNX Runtime, inpainting executor) and, in mode noise, asks for w before each chunk
is sampled (one decision per chunk, every n_action_steps policy periods: 0.8 s).

- Updates: TD3 (Fujimoto et al. 2018) on a deterministic actor in the noise space:
  clipped double Q, target policy smoothing and delayed actor updates, Polyak targets,
  n-step returns. Why TD3 rather than SAC (the paper's DSRL-SAC): the deployed bundle is deterministic (no eps input), so the policy that is trained
  is the one that is deployed, and its exploration is an explicit, scheduled Gaussian (below)
  rather than an entropy temperature to tune on a 160-dimensional action with a few
  thousand transitions. Why not DSRL-NA's noise-aliased critic (an action-space critic
  Q(s, chunk) distilled into Q(s, w) through the sampler): it needs the chunk the sampler
  made from each w, which robotd env's noise mode does not return (its observations carry
  no base chunk in that mode), or the policy run again in Python; here the critic is
  Q(s, w) directly, as DSRL-SAC's.
- Transitions are chunk-level: state at a decision, the noise w executed, the sparse reward
  (1 on the terminal step of a successful episode, else 0), gamma per decision (default
  0.97 per 0.8 s chunk, about 0.996 per policy period), n-step returns (default 3), the
  task's timeout treated as terminal with the time in the critic's input (so the target
  stays Markov), as train_residual.py does.
- Actor (deployed): NoiseActor, a keypoint CNN per camera (ImageEncoder: models.py's
  KeypointEncoder without GroupNorm, on the image average-pooled to --image-size 48;
  the state holds only the arm's joints, so without the images the actor could not tell
  where the cube is and could not choose a mode per scene) over the policy's preprocessed
  camera images (scene and wrist by default, --cameras) and observation.state, normalized
  as the policy bundle normalizes them (its stats.json; the bundle has none of its own),
  then an MLP; output w = b * tanh(.) [horizon, A] with b = --actor-bound (default 1.5,
  DSRL's "action magnitude": the latent action space is kept where the sampler's Gaussian
  has its mass, so the critic cannot lead the actor to saturated noise of +-3 in all 160
  values, far outside anything the diffusion policy was trained from), inside robotd's
  clip to +-bound (steering.noise.bound, default 3) by construction. Exploration draws
  around it are clipped to +-bound, not to b.
- Initialization and exploration (why the untrained actor is not "the base policy"): the
  base policy draws w ~ N(0, I) per chunk; noise 0 is the Gaussian's mean, a single,
  atypical point (its norm is 0 where a draw's is about sqrt(160) = 12.6), not the base
  policy's behaviour. The actor's last layer is zero, so its mean mu(s) starts at 0, and
  the behaviour policy during training is w = clip(mu(s) + sigma * eps, +-bound) with eps
  standard normal and sigma starting at --noise 1: the first episodes ARE the base policy
  (a draw from N(0, I), clipped at 3 sigma: 0.27 % of the values), so the critic first
  learns the base policy's value over its own noise distribution and the actor moves its
  mean from there. sigma then decays linearly to --noise-final (default 0.3) over the run,
  so the late data are near the deterministic policy that is deployed. The deployed
  untrained bundle (mu = 0) runs the sampler from the zero noise in every scene (measured:
  as good as the base on seeds 0..19, tools/train/README.md).
  --export-std S > 0 exports the stochastic policy mu(s) + S * eps instead (an eps input,
  as DSRL-SAC's bundles), e.g. S = --noise-final: exactly the late behaviour policy.
- Critic (not deployed, asymmetric): train_residual.py's two LayerNorm Q networks over the
  normalized state, the simulator's privileged state (privileged.cube, .tool, .gripper:
  where the cube is, which the critic must know; a real arm has no such signal and the
  deployed actor never sees it), time / 30 s and w / bound flattened (160 values). The
  critic takes no images (the privileged state says more, and it keeps the critic update
  cheap); only the actor's updates and the target actions run the CNN.

Parallelism, seeds and files as train_residual.py (whose servers, normalization, critic
and checkpoint helpers this imports): one robotd env server per core (--servers, or
--sockets for servers already running), one worker process per server running whole
episodes with the latest actor weights, the learner (this process, --threads torch
threads) doing --utd gradient updates per new transition. Episode seeds start at
--seed-base (default 200000), disjoint from the evaluation seeds 0..99 and from the
residual's. --camera-noise gives the servers' camera noise, round-robin (e.g. 0,8).

The replay buffer keeps every decision's images as the exact sums of each 2x2 block of
8-bit levels (robotd's preprocessed images are levels / 255; int16) in one ring of
--buffer decisions (first in, first out); a transition refers to its n-step successor in
the same ring, so images are stored once. The actor's CNN sees the block means (the
exported model average-pools the full images robotd gives it: the same numbers).

Every --checkpoint-every episodes the run directory (--run) gets checkpoint.pt (networks,
optimizers, the replay buffer, counters, random states) and the bundle is exported
(model.onnx with a dynamic batch axis, steer.yaml, training.json); --resume continues from
the checkpoint. A progress line per --log-every episodes: episodes, success rate of the
last 20, mean critic loss, mean |Q|, RMS of the actor's mean noise mu, exploration sigma,
episodes/s (also RUN/progress.jsonl).

    /usr/bin/python3 tools/train/train_noise.py --run out/noise_rl --export-only --export DIR
        writes the bundle from the run's checkpoint.

Debian's python3 with torch 1.13 (CPU), numpy, onnx and yaml.
"""
import argparse
import collections
import datetime
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the imported scripts

from bundle import export  # noqa: E402
from models import SpatialSoftmax  # noqa: E402
from robotd_env import RobotdEnv  # noqa: E402
from train_residual import (INPUT_CLAMP, STATE, Critic, Normalizer, Run, critic_extra,  # noqa: E402
                            policy_features, soft, train)

IMAGE = "observation.images."


# ----------------------------------------------------------------------------------------
# Features and networks
# ----------------------------------------------------------------------------------------

def image_features(bundle_dir, cameras):
    """The policy bundle's image features for cameras (names after observation.images.):
    [(name, shape [3, H, W], normalization mode, torch shift, torch scale)], normalized
    as policy/norm.go does (train_residual.Normalizer's constants, per channel)."""
    path = os.path.join(bundle_dir, "policy.yaml")
    with open(path) as f:
        py = yaml.safe_load(f)
    with open(os.path.join(bundle_dir, py.get("stats", "stats.json"))) as f:
        stats = json.load(f)
    out = []
    for cam in cameras:
        name = IMAGE + cam
        if name not in py["features"]:
            have = [k[len(IMAGE):] for k in py["features"] if k.startswith(IMAGE)]
            raise ValueError(f"{path}: features: no {name} (--cameras {','.join(cameras)}; the policy has {have})")
        shape, mode = list(py["features"][name]["shape"]), py["features"][name]["normalization"]
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(f"{path}: features: {name}: shape {shape}, want [3, H, H] (square, as the CNN takes)")
        n = Normalizer(mode, stats, name)
        shift = torch.zeros(1) if n.shift is None else torch.tensor(n.shift, dtype=torch.float32)
        scale = torch.ones(1) if n.scale is None else torch.tensor(n.scale, dtype=torch.float32)
        out.append((name, shape, mode, shift.reshape(-1, 1, 1), scale.reshape(-1, 1, 1)))
    return out


def pool_levels(u8, pool):
    """Camera images as 8-bit levels [..., C, H, W] (uint8) -> the sums of each pool x pool
    block [..., C, H/pool, W/pool] as int16 (exact: at most 255 * pool^2 <= 32767 for pool
    <= 11; torch 1.13 has no uint16). The replay and the workers keep these: a quarter of
    the pixels at pool 2, and the learner never allocates a full-size float batch (its page
    faults cost more than the CNN: 0.2 s against 0.05 s per update of batch 128)."""
    *lead, c, h, w = u8.shape
    x = u8.reshape(*lead, c, h // pool, pool, w // pool, pool).astype(np.int16)
    return x.sum(axis=(-3, -1), dtype=np.int16)


class ImageNorm:
    """Pooled level sums [B,C,h,w] (pool_levels) -> the block means in [0, 1] -> the policy
    bundle's normalization, per channel: x * (1 / (255 pool^2 scale_c)) - shift_c /
    scale_c, one in-place affine per channel (torch 1.13 on this CPU broadcasts a [C,1,1]
    over a batch about 60 times slower). Normalizing the block means equals average-pooling
    the normalized image (the exported actor's path): the normalization is affine per
    channel."""

    def __init__(self, shift, scale, pool):
        shift, scale = shift.reshape(-1).double(), scale.reshape(-1).double()
        self.mul = [float(1.0 / (255.0 * pool * pool * s)) for s in scale]
        self.add = [float(-m / s) for m, s in zip(shift, scale)]

    def __call__(self, sums):
        x = sums.float()
        for c in range(x.shape[1]):
            k = c if len(self.mul) > 1 else 0
            x[:, c].mul_(self.mul[k]).add_(self.add[k])
        return x


class ImageEncoder(nn.Module):
    """One camera's frames [B,3,hw,hw] -> [B,feat]: models.py's KeypointEncoder layout (a
    4x4 patchify conv, a 3x3 conv, a strided 3x3 conv to hw/8 x hw/8, spatial-softmax
    keypoints, a linear layer) without its GroupNorms, which cost several times the
    convolutions on this CPU (torch 1.13: 12-75 ms against 4 ms for a forward pass of 128
    frames at 48x48), and the actor's CNN runs on every update's target actions."""

    def __init__(self, hw, keypoints, feat):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 32, 4, 4), nn.ReLU(), nn.Conv2d(32, 32, 3, 1, 1), nn.ReLU(),
                                 nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU())
        s = hw // 8
        self.pool = SpatialSoftmax(64, s, s, keypoints)
        self.out = nn.Sequential(nn.Linear(2 * keypoints, feat), nn.ReLU())

    def forward(self, x):
        return self.out(self.pool(self.net(x)))


class NoiseActor(nn.Module):
    """The deployed noise policy: forward(*images [B,3,H,W] in --cameras order, state [B,S],
    each normalized as the policy bundle normalizes it) -> noise [B,horizon,A] = bound *
    tanh(mlp([ImageEncoder(average-pooled image) per camera, clamped state])). The last layer is zero:
    the untrained actor returns the zero noise (the sampler's Gaussian mean)."""

    def __init__(self, cams, hw, state_dim, horizon, action_dim, bound, image_size=48, feat=32, keypoints=16,
                 hidden=256):
        super().__init__()
        if hw % image_size or hw // image_size > 11:
            raise ValueError(f"--image-size {image_size}: want a divisor of the cameras' {hw} pixels, at least {hw} / 11")
        self.h, self.a, self.pool = horizon, action_dim, hw // image_size
        self.encs = nn.ModuleList([ImageEncoder(image_size, keypoints, feat) for _ in range(cams)])
        self.mlp = nn.Sequential(nn.Linear(cams * feat + state_dim, hidden), nn.LayerNorm(hidden), nn.Mish(),
                                 nn.Linear(hidden, hidden), nn.Mish(), nn.Linear(hidden, horizon * action_dim))
        with torch.no_grad():
            self.mlp[-1].weight.zero_()
            self.mlp[-1].bias.zero_()
        self.register_buffer("bound", torch.tensor(float(bound)))

    def forward(self, *args):
        """The deployed path: normalized full-size images, pooled here."""
        *images, state = args
        if self.pool > 1:
            images = [F.avg_pool2d(x, self.pool) for x in images]
        return self.forward_pooled(*images, state)

    def forward_pooled(self, *args):
        """The training path: images already pooled and normalized (ImageNorm)."""
        *images, state = args
        fs = [enc(x) for enc, x in zip(self.encs, images)]
        x = torch.cat(fs + [torch.clamp(state, -INPUT_CLAMP, INPUT_CLAMP)], dim=-1)
        return (self.bound * torch.tanh(self.mlp(x))).reshape(-1, self.h, self.a)


class StochasticExport(nn.Module):
    """The exported stochastic variant (--export-std): noise = actor(...) + std * eps,
    eps [B,horizon,A] standard normals that robotd supplies (its seeded generator)."""

    def __init__(self, actor, std):
        super().__init__()
        self.actor = actor
        self.std = float(std)

    def forward(self, *args):
        *inputs, eps = args
        return self.actor(*inputs) + self.std * eps


def make_actor(cfg, args):
    return NoiseActor(len(cfg["cameras"]), cfg["hw"], cfg["state_dim"], cfg["horizon"], cfg["action_dim"],
                      min(args.actor_bound, cfg["bound"]), image_size=args.image_size, feat=args.feat, keypoints=args.keypoints, hidden=args.actor_hidden)


def make_norms(cfg, args):
    return [ImageNorm(shift, scale, cfg["hw"] // args.image_size) for _, _, _, shift, scale in cfg["images"]]


# ----------------------------------------------------------------------------------------
# Rollouts (worker processes)
# ----------------------------------------------------------------------------------------

def run_episode(env, actor, norms, cfg, seed, noise_std, rng, camera_noise, pool):
    """One noise-mode episode: at each decision w = clip(mu(obs) + noise_std * eps,
    +-bound). Returns per-decision pooled images (pool_levels), normalized state, critic
    extra and w / bound, the sparse reward, success and the outcome."""
    bound, H, A = cfg["bound"], cfg["horizon"], cfg["action_dim"]
    obs, info = env.reset(seed=seed, mode="noise", images=True, privileged=True, camera_noise=camera_noise)
    samples = int(cfg["samples"])
    imgs, states, extras, ws, mus = [[] for _ in cfg["cameras"]], [], [], [], []
    steps, last, reward = 0, info, 0.0
    while info.get("decision") == "noise":
        u8 = [pool_levels(np.rint(np.asarray(obs[name], np.float32) * 255.0).clip(0, 255).astype(np.uint8), pool)
              for name, *_ in cfg["images"]]
        s = cfg["norm_state"](obs[STATE])
        with torch.no_grad():
            xs = [n(torch.from_numpy(u[None])) for n, u in zip(norms, u8)]
            mu = actor.forward_pooled(*xs, torch.from_numpy(s[None]))[0].numpy()
        w = mu + noise_std * rng.standard_normal(mu.shape) if noise_std > 0 else mu
        w = np.clip(w, -bound, bound).astype(np.float32)
        for k, u in enumerate(u8):
            imgs[k].append(u)
        states.append(s)
        extras.append(critic_extra(obs, info, cfg["priv_names"]))
        ws.append(w.reshape(-1) / bound)
        mus.append(float(np.sqrt(np.mean(mu ** 2))))
        obs, rew, terminated, truncated, info = env.step(np.repeat(w[None], samples, 0))
        reward += rew
        steps += 1
        last = info
        if terminated or truncated:
            break
    hw = cfg["hw"] // pool
    return {"img": [np.asarray(x, np.int16).reshape(steps, 3, hw, hw) for x in imgs],
            "x": np.asarray(states, np.float32).reshape(steps, -1),
            "extra": np.asarray(extras, np.float32).reshape(steps, -1),
            "c": np.asarray(ws, np.float32).reshape(steps, H * A),
            "success": bool(last.get("success", False)), "reward": reward, "fault": last.get("fault", ""),
            "outcome": last.get("outcome"), "seed": seed, "steps": steps, "mu_rms": float(np.mean(mus)) if mus else 0.0,
            "sim_time": float(last.get("time", 0.0))}


def worker_main(idx, sock, cfg, args, jobs, results):
    """A worker: one connection to one server; runs an episode per job (seed, actor state
    dict, exploration std, camera noise) and puts it on results. None ends it."""
    torch.set_num_threads(1)
    cfg = dict(cfg, norm_state=policy_features(cfg["bundle"])["norm_state"])
    actor = make_actor(cfg, args).eval()
    norms = make_norms(cfg, args)
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
                ep = run_episode(env, actor, norms, cfg, seed, noise_std, rng, camera_noise, actor.pool)
            except Exception as e:  # noqa: BLE001: reported to the learner, which stops
                results.put((idx, {"error": f"worker {idx} ({sock}), seed {seed}: {e!r}"}))
                break
            results.put((idx, ep))
    finally:
        env.close()


# ----------------------------------------------------------------------------------------
# Replay: one ring of decisions, transitions pointing at their n-step successor
# ----------------------------------------------------------------------------------------

class DecisionReplay:
    """Decisions (pooled level sums per camera (pool_levels), normalized state, critic extra, w / bound) with
    their n-step return, discount (gamma^m, 0 where the window reached the episode's end)
    and the offset m of the successor decision, in preallocated arrays, first in first
    out beyond capacity. An episode is written contiguously (mod capacity), so a live
    decision's successor (newer, same episode) is live too."""

    KEYS = ("x", "e", "c", "ret", "disc", "nxt")

    def __init__(self, capacity, cams, hw, x_dim, e_dim, a_dim):
        self.cap, self.n, self.i = capacity, 0, 0
        self.img = [np.zeros((capacity, 3, hw, hw), np.int16) for _ in range(cams)]
        self.x = np.zeros((capacity, x_dim), np.float32)
        self.e = np.zeros((capacity, e_dim), np.float32)
        self.c = np.zeros((capacity, a_dim), np.float32)
        self.ret = np.zeros(capacity, np.float32)
        self.disc = np.zeros(capacity, np.float32)
        self.nxt = np.zeros(capacity, np.int64)

    def add_episode(self, ep, nstep, gamma):
        T = ep["steps"]
        if T == 0:
            return 0
        if T >= self.cap:
            raise ValueError(f"an episode of {T} decisions does not fit a replay of {self.cap} (--buffer)")
        r = np.zeros(T, np.float32)
        r[-1] = ep["reward"]
        for t in range(T):
            end = min(t + nstep, T)
            j = self.i
            for k, im in enumerate(self.img):
                im[j] = ep["img"][k][t]
            self.x[j], self.e[j], self.c[j] = ep["x"][t], ep["extra"][t], ep["c"][t]
            self.ret[j] = sum(gamma ** (k - t) * r[k] for k in range(t, end))
            self.disc[j] = gamma ** (end - t) if end < T else 0.0
            self.nxt[j] = end - t if end < T else 0  # 0: itself, unused (disc 0)
            self.i = (self.i + 1) % self.cap
            self.n = min(self.n + 1, self.cap)
        return T

    def sample(self, rng, batch):
        idx = rng.integers(0, self.n, batch)
        idx2 = (idx + self.nxt[idx]) % self.cap
        t = torch.from_numpy
        return ([t(im[idx]) for im in self.img], t(self.x[idx]), t(self.e[idx]), t(self.c[idx]), t(self.ret[idx]),
                t(self.disc[idx]), [t(im[idx2]) for im in self.img], t(self.x[idx2]), t(self.e[idx2]))

    def state(self):
        n = self.n
        return {"n": n, "i": self.i, "img": [im[:n].copy() for im in self.img],
                **{k: getattr(self, k)[:n].copy() for k in self.KEYS}}

    def load(self, st):
        n = min(st["n"], self.cap)
        for im, s in zip(self.img, st["img"]):
            im[:n] = s[:n]
        for k in self.KEYS:
            getattr(self, k)[:n] = st[k][:n]
        self.n, self.i = n, st["i"] % self.cap


# ----------------------------------------------------------------------------------------
# Learner
# ----------------------------------------------------------------------------------------

class Learner:
    """TD3 updates of the privileged critic Q(state, extra, w / bound) and the image actor."""

    def __init__(self, cfg, args):
        self.args = args
        self.bound = cfg["bound"]
        self.d = cfg["horizon"] * cfg["action_dim"]
        self.norms = make_norms(cfg, args)
        self.actor = make_actor(cfg, args)
        self.actor_t = make_actor(cfg, args)
        self.actor_t.load_state_dict(self.actor.state_dict())
        in_dim = cfg["state_dim"] + cfg["extra_dim"]
        self.critic = Critic(in_dim, self.d, args.critic_hidden)
        self.critic_t = Critic(in_dim, self.d, args.critic_hidden)
        self.critic_t.load_state_dict(self.critic.state_dict())
        self.opt_a = torch.optim.Adam(self.actor.parameters(), lr=args.actor_lr)
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=args.critic_lr)
        self.updates = 0
        self.stats = collections.deque(maxlen=200)

    def w(self, actor, sums, x):
        """The actor's noise / bound, flattened [B, horizon*A] (in [-1, 1])."""
        return actor.forward_pooled(*[n(u) for n, u in zip(self.norms, sums)], x).reshape(-1, self.d) / self.bound

    def update(self, replay, rng, train_actor):
        a = self.args
        im, x, e, c, ret, disc, im2, x2, e2 = replay.sample(rng, a.batch)
        with torch.no_grad():
            live = disc > 0  # the target actor (a CNN) runs only where the target bootstraps
            q2 = torch.zeros_like(ret)
            if bool(live.any()):
                w2 = self.w(self.actor_t, [u[live] for u in im2], x2[live])
                noise = torch.clamp(torch.randn_like(w2) * a.target_noise, -a.target_noise_clip, a.target_noise_clip)
                w2 = torch.clamp(w2 + noise, -1.0, 1.0)
                q2[live] = self.critic_t(torch.cat([x2[live], e2[live]], -1), w2).min(0).values
            y = ret + disc * q2
        q = self.critic(torch.cat([x, e], -1), c)
        loss_c = F.mse_loss(q, y.expand_as(q))
        self.opt_c.zero_grad()
        loss_c.backward()
        self.opt_c.step()
        self.updates += 1
        if train_actor and self.updates % a.actor_delay == 0:
            k = min(a.actor_batch, a.batch)
            wa = self.w(self.actor, [u[:k] for u in im], x[:k])
            qa = self.critic(torch.cat([x[:k], e[:k]], -1), wa).mean(0)
            loss = -qa.mean() + a.noise_penalty * (wa ** 2).mean()
            self.opt_a.zero_grad()
            loss.backward()
            self.opt_a.step()
            soft(self.actor_t, self.actor, a.tau)
        soft(self.critic_t, self.critic, a.tau)
        self.stats.append((float(loss_c), float(q.abs().mean())))

    def state(self):
        return {k: getattr(self, k).state_dict() for k in ("actor", "actor_t", "critic", "critic_t", "opt_a", "opt_c")} | \
            {"updates": self.updates}

    def load(self, st):
        for k in ("actor", "actor_t", "critic", "critic_t", "opt_a", "opt_c"):
            getattr(self, k).load_state_dict(st[k])
        self.updates = st["updates"]


# ----------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------

def export_bundle(actor, cfg, out, training, std=0.0):
    """Writes the steering bundle out/{model.onnx, steer.yaml, training.json}: kind noise,
    inputs the declared images and observation.state normalized with the policy bundle's
    statistics (no stats of its own), plus eps when std > 0; output noise [B, horizon, A];
    a dynamic batch axis."""
    os.makedirs(out, exist_ok=True)
    actor = actor.eval()
    B, hw = 3, cfg["hw"]
    ins = [torch.zeros(B, 3, hw, hw) for _ in cfg["images"]] + [torch.zeros(B, cfg["state_dim"])]
    names = [name for name, *_ in cfg["images"]] + [STATE]
    model = actor
    if std > 0:
        model = StochasticExport(actor, std).eval()
        ins.append(torch.zeros(B, cfg["horizon"], cfg["action_dim"]))
        names.append("eps")
    export(model, tuple(ins), os.path.join(out, "model.onnx"), names, ["noise"])
    (sshape, snorm), (ashape, anorm) = cfg["state"], cfg["action"]
    w = max(len(n) for n in names) + 1
    feats = [f"  {(name + ':').ljust(w)} {{shape: {list(shape)}, normalization: {mode}}}"
             for name, shape, mode, _, _ in cfg["images"]]
    feats.append(f"  {(STATE + ':').ljust(w)} {{shape: {list(sshape)}, normalization: {snorm}}}")
    feats.append(f"  {'action:'.ljust(w)} {{shape: {list(ashape)}, normalization: {anorm}}}")
    kindline = (f"stochastic: mu(images, state) + {std:g} * eps" if std > 0 else
                "deterministic (no eps): use samples: 1")
    with open(os.path.join(out, "steer.yaml"), "w") as f:
        f.write(f"# DSRL noise policy trained by RL through robotd env (tools/train/train_noise.py) for\n"
                f"# {cfg['bundle_name']}; {kindline}; |mu| <= {float(actor.bound):g}; trained with noise bound {cfg['bound']:g}:\n"
                f"# deploy with policy.steering {{samples: 1, noise: {{bundle: DIR, bound: {cfg['bound']:g}}}}}.\n"
                f"kind: noise\nmodel: model.onnx\nhorizon: {cfg['horizon']}\nn_obs_steps: {cfg['n_obs_steps']}\n"
                f"features:\n" + "\n".join(feats) + "\noutput: noise\n")
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(training, f, indent=1)
        f.write("\n")


# ----------------------------------------------------------------------------------------
# Main loop
# ----------------------------------------------------------------------------------------

def env_config(sock, args):
    """Reads the server's info and the policy bundle: dimensions, noise bound, cameras,
    privileged arrays (required: the critic must know where the cube is)."""
    with RobotdEnv(socket=sock) as env:
        info = env.info()
    feats = policy_features(info["bundle"])
    A, H = int(info["action_dim"]), int(info["horizon"])
    if int(np.prod(feats["action"][0])) != A:
        raise ValueError(f"{info['bundle']}: action shape {feats['action'][0]} but robotd env's action_dim is {A}")
    if feats["horizon"] != H:
        raise ValueError(f"{info['bundle']}: horizon {feats['horizon']} but robotd env's is {H}")
    if "noise" not in info.get("modes", []):
        raise ValueError(f"robotd env at {sock} does not serve mode noise (modes {info.get('modes')})")
    priv = [(p["name"], int(np.prod(p["shape"]))) for p in info.get("privileged", [])]
    if not priv:
        raise ValueError(f"robotd env at {sock} offers no privileged arrays: the critic needs the cube's pose")
    images = image_features(info["bundle"], args.cameras.split(","))
    hws = {shape[1] for _, shape, _, _, _ in images}
    if len(hws) != 1:
        raise ValueError(f"{info['bundle']}: cameras {args.cameras} have different sizes {sorted(hws)}")
    return {"bundle": info["bundle"], "bundle_name": os.path.basename(info["bundle"].rstrip("/")),
            "launch": info["launch"], "state_dim": int(np.prod(feats["state"][0])), "action_dim": A, "horizon": H,
            "n_obs_steps": feats["n_obs_steps"], "state": feats["state"], "action": feats["action"],
            "bound": float(info["noise_bound"]), "samples": int(info["samples"]), "priv_names": priv,
            "extra_dim": sum(n for _, n in priv) + 1, "cameras": args.cameras.split(","), "images": images,
            "hw": hws.pop(), "seed": args.seed, "info": info}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="run directory: checkpoint.pt, progress.jsonl, servers' sockets and logs")
    ap.add_argument("--export", help="steering bundle directory written at every checkpoint and at the end (default RUN/bundle)")
    ap.add_argument("--export-only", action="store_true", help="write the bundle from RUN/checkpoint.pt and exit")
    ap.add_argument("--export-std", type=float, default=0.0,
                    help="export mu + STD * eps (an eps input) instead of the deterministic mu; default 0")
    ap.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    ap.add_argument("--robotd", default="out/robotd", help="robotd binary (go build -o out/robotd ./cmd/robotd)")
    ap.add_argument("--launch", default="launch/pickplace_diffusion.yaml", help="launch file the servers serve")
    ap.add_argument("--servers", type=int, default=os.cpu_count() or 1, help="robotd env servers to start (default: one per core)")
    ap.add_argument("--sockets", help="comma-separated sockets of servers already running (instead of starting --servers)")
    ap.add_argument("--server-nice", type=int, default=5, help="nice level of the started servers")
    ap.add_argument("--camera-noise", default="0", help="comma-separated camera noise (8-bit levels) per server, round-robin")
    ap.add_argument("--cameras", default="scene,wrist", help="the actor's cameras (names after observation.images.)")
    ap.add_argument("--episodes", type=int, default=600, help="total training episodes")
    ap.add_argument("--seed", type=int, default=0, help="torch and numpy seed")
    ap.add_argument("--seed-base", type=int, default=200000, help="first episode's env seed (keep clear of the evaluation seeds)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the learner")
    ap.add_argument("--warmup", type=int, default=30, help="episodes before the actor is trained (critic warm-up on the base)")
    ap.add_argument("--noise", type=float, default=1.0, help="exploration std at the start (1: the base policy's N(0, I))")
    ap.add_argument("--noise-final", type=float, default=0.3, help="exploration std at the last episode (linear decay)")
    ap.add_argument("--actor-bound", type=float, default=1.5,
                    help="the actor's noise is actor_bound * tanh(.) (at most the env's noise bound)")
    ap.add_argument("--nstep", type=int, default=3)
    ap.add_argument("--gamma", type=float, default=0.97, help="discount per decision (per chunk)")
    ap.add_argument("--batch", type=int, default=128, help="critic batch")
    ap.add_argument("--actor-batch", type=int, default=64, help="actor batch (the first rows of the critic's: the CNN's cost)")
    ap.add_argument("--utd", type=float, default=1.0, help="critic updates per new transition (decision)")
    ap.add_argument("--buffer", type=int, default=50000, help="replay capacity, decisions (28 KB each with two cameras at 48x48)")
    ap.add_argument("--actor-lr", type=float, default=1e-4)
    ap.add_argument("--critic-lr", type=float, default=3e-4)
    ap.add_argument("--actor-hidden", type=int, default=256)
    ap.add_argument("--critic-hidden", type=int, default=256)
    ap.add_argument("--image-size", type=int, default=48,
                    help="the actor's CNN sees each camera average-pooled to this size (a divisor of 96; the CNN's cost)")
    ap.add_argument("--feat", type=int, default=32, help="image features per camera")
    ap.add_argument("--keypoints", type=int, default=16, help="spatial-softmax keypoints per camera")
    ap.add_argument("--actor-delay", type=int, default=2, help="critic updates per actor update")
    ap.add_argument("--tau", type=float, default=0.005, help="Polyak rate of the target networks")
    ap.add_argument("--target-noise", type=float, default=0.2, help="target policy smoothing std, units of the bound")
    ap.add_argument("--target-noise-clip", type=float, default=0.5, help="target policy smoothing clip, units of the bound")
    ap.add_argument("--noise-penalty", type=float, default=0.0, help="actor loss weight of the mean squared w/bound")
    ap.add_argument("--checkpoint-every", type=int, default=50, help="episodes between checkpoints (and exports)")
    ap.add_argument("--log-every", type=int, default=5, help="episodes between progress lines")
    return ap.parse_args(argv)


def exploration_std(args, episode):
    """The exploration std of the episode with index episode: --noise decaying linearly to
    --noise-final at the last episode."""
    f = min(episode / max(args.episodes - 1, 1), 1.0)
    return args.noise + (args.noise_final - args.noise) * f


def training_record(cfg, args, done, history, learner):
    last = history[-100:]
    return {"method": "DSRL noise policy (TD3 in the noise space, chunk-level n-step, sparse reward, "
                      "privileged critic) through robotd env, mode noise",
            "launch": cfg["launch"], "policy_bundle": cfg["bundle"], "bound": cfg["bound"],
            "cameras": cfg["cameras"], "critic_privileged": [n for n, _ in cfg["priv_names"]],
            "export_std": args.export_std, "episodes": done, "updates": learner.updates,
            "success_last_100": (sum(h["success"] for h in last) / len(last)) if last else None,
            "args": {k: v for k, v in vars(args).items()},
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


class NoiseRun(Run):
    name = "noise RL (DSRL)"
    unit = "decisions"
    update_batch = 10

    def env_config(self, sock, args):
        return env_config(sock, args)

    def learner(self, cfg, args):
        return Learner(cfg, args)

    def replay(self, cfg, args):
        return DecisionReplay(args.buffer, len(cfg["cameras"]), args.image_size, cfg["state_dim"], cfg["extra_dim"],
                              cfg["horizon"] * cfg["action_dim"])

    def worker(self, i, sock, cfg, args, jobs, results):
        wcfg = {k: cfg[k] for k in ("bundle", "state_dim", "action_dim", "horizon", "bound", "samples", "priv_names",
                                    "cameras", "images", "hw", "seed")}
        return worker_main, (i, sock, wcfg, args, jobs, results)

    def banner(self, cfg, args):
        return (f"noise [{cfg['horizon']}, {cfg['action_dim']}] bound {cfg['bound']:g}, cameras {cfg['cameras']}, "
                f"critic privileged {[n for n, _ in cfg['priv_names']]}")

    def explore(self, args, episode):
        return exploration_std(args, episode)

    def episode(self, ep, cfg):
        return {"mu_rms": ep["mu_rms"]}

    def progress(self, args, done, last, s_per_update):
        mu, explore = float(np.mean([h["mu_rms"] for h in last])), exploration_std(args, done - 1)
        return ({"mu_rms": mu, "explore_std": explore}, f"rms mu {mu:.3f}  explore {explore:.2f}",
                {"s_per_update": s_per_update})

    def record(self, cfg, args, done, history, learner):
        return training_record(cfg, args, done, history, learner)

    def export(self, learner, cfg, out, record, args):
        export_bundle(learner.actor, cfg, out, record, std=args.export_std)


def main(argv=None):
    return train(parse_args(argv), NoiseRun())


if __name__ == "__main__":
    sys.exit(main())
