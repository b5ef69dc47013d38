#!/usr/bin/python3
"""Trains robotd's reference pick-and-place policies from a LeRobotDataset recorded by
`robotd record` and exports each as a policy bundle (docs/policy-bundle.md).

    go run ./tools/train/export -dataset out/demos -out out/demos.npy
    /usr/bin/python3 tools/train/train.py diffusion --data out/demos.npy --out models/pickplace_diffusion
    /usr/bin/python3 tools/train/train.py act       --data out/demos.npy --out models/pickplace_act

(tools/train/README.md has the whole recipe and the numbers.) Debian's python3 with torch
1.13 (CPU), numpy and onnx. The networks are models.py's (the test fixtures of
policy/testdata are built from the same module), the ONNX export and policy.yaml are
bundle.py's, and the diffusion schedule is ref_sampler.py's, the reference robotd's Go
sampler is tested against: the training-time forward process is the one robotd's sampler
inverts.

Policies (both see the scene and wrist cameras at 96x96 and observation.state = the 7 joint
angles and the gripper opening; both act in robotd's ee_pose_6d space: the tool target
x y z, the first two columns of its rotation matrix, and the gripper command):

diffusion  Diffusion Policy (Chi et al.): per-camera CNN with spatial-softmax keypoints, 2
           observation steps, a conditional 1D U-Net denoising 16 actions (--prediction:
           the noise or the clean actions; 100 squaredcos_cap_v2 steps; DDIM with 10 steps at
           deploy), 8 executed.
act        ACT-style (Zhao et al.): per-camera CNN feature maps as tokens with the state
           token, a transformer encoder-decoder with 16 action queries, L1 loss; deployed
           with temporal ensembling. The CVAE of ACT is left out (its inference path uses the
           prior mean z = 0; with one scripted expert the demonstrations are unimodal).

Both train an auxiliary head (not exported) that predicts the cube's pose from the image
features where the dataset recorded it (observation.environment_state): the deployed
policies see images and joint state only.
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

# One BLAS thread: torch's own intra-op threads (--threads) do the parallel work; an
# OpenBLAS pool on top of them oversubscribes two cores (measured: a U-Net step 10x slower).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import bundle  # noqa: E402  (beside this file: the script's directory is on sys.path)
import models  # noqa: E402
import ref_sampler as rs  # noqa: E402

CAMERAS = ["observation.images.scene", "observation.images.wrist"]  # the models' image inputs, in order
STATE = "observation.state"
ACTION = "action"
RATE = 10  # Hz: the dataset's fps and the policies' control_rate_hz
HORIZON = 16  # actions per chunk, both policies

# DIFFUSION is the reference diffusion policy's schedule and sampler (its policy.yaml's
# diffusion section, in this order): 100 squaredcos_cap_v2 training steps, DDIM with 10
# steps at deploy. prediction_type is --prediction's default; a run uses
# diffusion_config(args), never changes this.
DIFFUSION = bundle.ddim_schedule()


def diffusion_config(prediction):
    """DIFFUSION with prediction_type set to prediction ("epsilon" or "sample"): a new dict."""
    return dict(DIFFUSION, prediction_type=prediction)


# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------

def rotvec_matrix(rv):
    """Rotation vectors [N,3] -> rotation matrices [N,3,3] (Rodrigues), float64."""
    rv = rv.astype(np.float64)
    th = np.linalg.norm(rv, axis=1)
    k = rv / np.maximum(th, 1e-12)[:, None]
    K = np.zeros((len(rv), 3, 3))
    K[:, 0, 1], K[:, 0, 2] = -k[:, 2], k[:, 1]
    K[:, 1, 0], K[:, 1, 2] = k[:, 2], -k[:, 0]
    K[:, 2, 0], K[:, 2, 1] = -k[:, 1], k[:, 0]
    s, c = np.sin(th)[:, None, None], np.cos(th)[:, None, None]
    return np.eye(3)[None] + s * K + (1 - c) * (K @ K)


def action_6d(a):
    """Recorded actions (x y z rx ry rz gripper) -> ee_pose_6d (x y z, r00 r10 r20,
    r01 r11 r21, gripper): daemon.Pose6DValues' layout."""
    R = rotvec_matrix(a[:, 3:6])
    return np.concatenate([a[:, :3], R[:, :, 0], R[:, :, 1], a[:, 6:7]], axis=1).astype(np.float32)


def aux_target(env):
    """The cube's pose (observation.environment_state: x y z qw qx qy qz) as the auxiliary
    target the image encoders learn to predict: the position scaled to about [-1, 1] over
    the start region, and the yaw as cos 4yaw, sin 4yaw (a cube looks the same every
    quarter turn, so only 4yaw is visible)."""
    x, y, z = env[:, 0], env[:, 1], env[:, 2]
    qw, qx, qy, qz = env[:, 3], env[:, 4], env[:, 5], env[:, 6]
    yaw = np.arctan2(2 * (qx * qy + qw * qz), 1 - 2 * (qy * qy + qz * qz))
    return np.stack([(x - 0.5) / 0.1, (y + 0.12) / 0.1, (z - 0.025) / 0.1,
                     np.cos(4 * yaw), np.sin(4 * yaw)], axis=1).astype(np.float32)


AUX = 5  # aux_target's size


class Data:
    """The exported arrays (tools/train/export) of one or more datasets in memory, and
    training windows over them. sources: [(export directory, [episode index])]."""

    def __init__(self, sources):
        state, action, aux, images = [], [], [], {k: [] for k in CAMERAS}
        self.start, self.end = [], []
        at = 0
        for path, episodes in sources:
            meta = json.load(open(os.path.join(path, "meta.json")))
            if meta["fps"] != RATE:
                raise SystemExit(f"{path}: recorded at {meta['fps']} fps; these policies run at {RATE} Hz (record with --fps {RATE})")
            ranges = [meta["episodes"][i] for i in episodes]
            if not ranges:
                continue
            rows = np.concatenate([np.arange(s, e) for s, e in ranges])
            state.append(np.load(os.path.join(path, STATE + ".npy"))[rows])
            action.append(action_6d(np.load(os.path.join(path, ACTION + ".npy"))[rows]))
            env = os.path.join(path, "observation.environment_state.npy")
            if os.path.exists(env):
                aux.append(aux_target(np.load(env)[rows]))
            else:  # recorded without the cube's pose: no auxiliary target (NaN: masked)
                aux.append(np.full((len(rows), AUX), np.nan, np.float32))
            for k in CAMERAS:
                arr = np.load(os.path.join(path, k + ".npy"), mmap_mode="r")
                images[k].append(torch.from_numpy(np.ascontiguousarray(arr[rows])))  # [N,H,W,3] uint8
            # Per row: its episode's first and last row in this selection.
            for s, e in ranges:
                n = e - s
                self.start.append(np.full(n, at, np.int64))
                self.end.append(np.full(n, at + n - 1, np.int64))
                at += n
        if at == 0:
            raise SystemExit("no episodes to train on")
        self.state = np.concatenate(state)
        self.action = np.concatenate(action)
        self.aux = np.concatenate(aux)
        self.images = {k: torch.cat(v) for k, v in images.items()}
        self.start, self.end = np.concatenate(self.start), np.concatenate(self.end)
        self.episodes = sum(len(e) for _, e in sources)
        self.n = at

    def stats(self):
        """LeRobot-style stats.json content: state and action (min/max/mean/std), images per
        channel ([3,1,1], in [0, 1])."""
        def vec(x):
            return {"min": x.min(0).tolist(), "max": x.max(0).tolist(),
                    "mean": x.mean(0).tolist(), "std": x.std(0).tolist()}
        out = {STATE: vec(self.state.astype(np.float64)), ACTION: vec(self.action.astype(np.float64))}
        rng = np.random.default_rng(0)
        pick = rng.choice(self.n, size=min(self.n, 2000), replace=False)
        for k in CAMERAS:
            px = self.images[k][torch.from_numpy(pick)].numpy().reshape(-1, 3).astype(np.float64) / 255
            ch = lambda v: [[[float(x)]] for x in v]  # noqa: E731
            out[k] = {"min": ch(px.min(0)), "max": ch(px.max(0)), "mean": ch(px.mean(0)), "std": ch(px.std(0))}
        return out

    def window(self, idx, n_obs, horizon):
        """Row indices of the observation history [B,n_obs] and the action window [B,horizon]
        starting at the oldest observation (Diffusion Policy's convention), clamped to the
        episode (repeat the first/last row)."""
        s, e = self.start[idx][:, None], self.end[idx][:, None]
        obs = np.clip(idx[:, None] - (n_obs - 1) + np.arange(n_obs)[None], s, e)
        act = np.clip(idx[:, None] - (n_obs - 1) + np.arange(horizon)[None], s, e)
        return obs, act


class Normalizer:
    """The runtime's normalization (policy/norm.go): min_max for state and action, mean_std
    per channel for images."""

    def __init__(self, stats):
        t = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
        self.smin, self.smax = t(stats[STATE]["min"]), t(stats[STATE]["max"])
        self.amin, self.amax = t(stats[ACTION]["min"]), t(stats[ACTION]["max"])
        self.img = {k: (t(stats[k]["mean"]), t(stats[k]["std"])) for k in CAMERAS}

    @staticmethod
    def minmax(x, lo, hi):
        return (x - lo) / (hi - lo + 1e-8) * 2 - 1

    def state(self, x):
        return self.minmax(x, self.smin, self.smax)

    def action(self, x):
        return self.minmax(x, self.amin, self.amax)

    def image(self, k, x):  # x float in [0,1], [..., 3, H, W]
        m, s = self.img[k]
        return (x - m) / (s + 1e-8)


def random_shift(x, pad):
    """DrQ's random shift: replicate-pad by pad pixels and crop back at a random offset,
    per image. x: [N,3,H,W]."""
    n, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    ox = torch.randint(0, 2 * pad + 1, (n,))
    oy = torch.randint(0, 2 * pad + 1, (n,))
    return torch.stack([xp[i, :, oy[i]:oy[i] + h, ox[i]:ox[i] + w] for i in range(n)])


def batch(data, norm, idx, n_obs, horizon, augment):
    """Normalized tensors for rows idx: state [B,n_obs,S], images of the latest step
    {k: [B,1,3,H,W]} (the only ones the encoders look at), actions [B,horizon,A], and the
    auxiliary target of the latest step [B,AUX] (NaN where the dataset has none)."""
    obs, act = data.window(idx, n_obs, horizon)
    b = len(idx)
    state = norm.state(torch.from_numpy(data.state[obs]))
    images = {}
    for k in CAMERAS:
        x = data.images[k][torch.from_numpy(obs[:, -1])]  # [B,H,W,3]
        x = x.permute(0, 3, 1, 2).float().div_(255)
        if augment:
            x = random_shift(x, 4)
        images[k] = norm.image(k, x).reshape(b, 1, *x.shape[1:])
    actions = norm.action(torch.from_numpy(data.action[act]))
    return state, images, actions, torch.from_numpy(data.aux[obs[:, -1]])


# ----------------------------------------------------------------------------------------
# Models (models.py)
# ----------------------------------------------------------------------------------------

def n_obs_of(policy):
    """Observation steps a policy sees: 2 for diffusion, 1 for act."""
    return 2 if policy == "diffusion" else 1


def build_model(policy, state_dim, action_dim):
    """A new (randomly initialized, from torch's global RNG) reference policy of kind policy
    ("diffusion" or "act") for state_dim joint values and action_dim action values."""
    if policy == "diffusion":
        return models.DiffusionPolicy(n_obs_of(policy), state_dim, action_dim, AUX)
    return models.ACTStyle(state_dim, action_dim, HORIZON, AUX)


class EMA:
    """Exponential moving average of the weights (Diffusion Policy's EMAModel with a fixed
    decay after warm-up)."""

    def __init__(self, model, decay=0.995):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.steps = 0

    @torch.no_grad()
    def update(self, model):
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------

def lr_at(step, steps, peak, warmup=200):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def train(args):
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    train_src, val_src, metas = [], [], []
    for path in args.data:
        meta = json.load(open(os.path.join(path, "meta.json")))
        metas.append(meta)
        eps = list(range(len(meta["episodes"])))
        succ_path = os.path.join(path, "next.success.npy")
        if os.path.exists(succ_path):  # train on the demonstrations that succeeded
            succ = np.load(succ_path)[:, 0]
            eps = [i for i in eps if succ[meta["episodes"][i][1] - 1] > 0.5]
            print(f"{path}: {len(eps)} of {len(meta['episodes'])} episodes succeeded; training on those", flush=True)
        # The last 5 % of each dataset's episodes are held out for the validation loss.
        n_val = max(1, len(eps) // 20) if len(eps) > 1 else 0
        train_src.append((path, eps[:len(eps) - n_val]))
        val_src.append((path, eps[len(eps) - n_val:]))
    data = Data(train_src)
    val = Data(val_src) if any(e for _, e in val_src) else None
    val_eps = [e for _, s in val_src for e in s]
    stats = data.stats()
    norm = Normalizer(stats)
    S, A = data.state.shape[1], data.action.shape[1]
    diffusion = args.policy == "diffusion"
    n_obs = n_obs_of(args.policy)
    horizon = HORIZON
    print(f"train {args.policy}: {data.episodes} episodes / {data.n} frames for training, "
          f"{len(val_eps)} held out; state {S}, action {A}; {args.steps} steps of batch {args.batch}, "
          f"{args.threads} thread(s)", flush=True)

    def build():
        return build_model(args.policy, S, A)

    model = build()
    dcfg = diffusion_config(args.prediction) if diffusion else None
    if diffusion:
        sched = rs.Schedule(**dcfg)
        abar = sched.alphas_cumprod
        T = sched.num_train_timesteps
    print(f"parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-6 if diffusion else 1e-4)
    ema = EMA(model)
    prior = 0  # steps the resumed checkpoint had already trained
    if args.resume:  # continue from a bundle's checkpoint.pt (weights, EMA, optimizer)
        ck = torch.load(args.resume)
        model.load_state_dict(ck["model"])
        ema.shadow, ema.steps = ck["ema"], ck["ema_steps"]
        opt.load_state_dict(ck["opt"])
        stats = ck["stats"]  # keep the normalization the weights were trained with
        norm = Normalizer(stats)
        prior = ck["steps"]
        print(f"resumed from {args.resume} ({prior} steps)", flush=True)
    rng = np.random.default_rng(args.seed)

    def aux_loss(pred, target):
        ok = ~torch.isnan(target[:, 0])
        if not ok.any():
            return pred.sum() * 0
        return F.mse_loss(pred[ok], target[ok])

    def loss_of(m, state, images, actions, aux, gen=None):
        """(policy loss, auxiliary loss)"""
        scene, wrist = images[CAMERAS[0]], images[CAMERAS[1]]
        if diffusion:
            # Several noise draws per observation: the encoder (the costly part) runs once
            # for K denoising examples.
            k = args.noise_samples
            cond, aux_pred = m.encoder.forward_aux(scene, wrist, state)
            cond = cond.repeat_interleave(k, dim=0)
            actions = actions.repeat_interleave(k, dim=0)
            b = actions.shape[0]
            t = torch.randint(0, T, (b,), generator=gen)
            noise = torch.randn(actions.shape, generator=gen)
            a = abar[t].view(-1, 1, 1)
            noisy = a.sqrt() * actions + (1 - a).sqrt() * noise
            target = noise if args.prediction == "epsilon" else actions
            return F.mse_loss(m.denoiser(noisy, t, cond), target), aux_loss(aux_pred, aux)
        pred, aux_pred = m.forward_aux(scene[:, 0], wrist[:, 0], state[:, 0])
        return F.l1_loss(pred, actions), aux_loss(aux_pred, aux)

    def validate():
        """(policy loss, auxiliary loss) of the EMA weights on the held-out episodes, None
        without any (a dataset of one episode)."""
        if val is None:
            return None
        ev = build()
        ev.load_state_dict(ema.shadow)
        ev.eval()
        gen = torch.Generator().manual_seed(0)
        idx = np.arange(0, val.n, max(1, val.n // 256))
        with torch.no_grad():
            st, im, ac, ax = batch(val, norm, idx, n_obs, horizon, False)
            return [float(x) for x in loss_of(ev, st, im, ac, ax, gen)]


    def save(done):
        """Exports the EMA weights as the bundle and writes the checkpoint (after done steps
        of this run); the bundle directory is replaced whole (written aside, renamed)."""
        final = build()
        final.load_state_dict(ema.shadow)
        final.eval()
        checkpoint = {"model": model.state_dict(), "ema": ema.shadow, "ema_steps": ema.steps,
                      "opt": opt.state_dict(), "stats": stats, "steps": prior + done,
                      "prediction": args.prediction}
        write_bundle(args, final, stats, S, A, n_obs, horizon, dcfg, metas, data, log, time.time() - t0, checkpoint)
        args.force = True  # later saves replace this run's own bundle

    t0 = time.time()
    model.train()
    log = []
    end = args.steps if not args.stop_after else min(args.stop_after, args.steps)
    for step in range(end):
        if args.save_every and step > 0 and step % args.save_every == 0:
            save(step)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr)
        idx = rng.integers(0, data.n, args.batch)
        state, images, actions, aux = batch(data, norm, idx, n_obs, horizon, True)
        main, aux = loss_of(model, state, images, actions, aux)
        loss = main + args.aux_weight * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        ema.update(model)
        if step % args.log_every == 0 or step == end - 1:
            el = time.time() - t0
            eta = el / (step + 1) * (end - step - 1)
            vl = validate() if (step % (args.log_every * 5) == 0 or step == end - 1) else None
            log.append({"step": step, "loss": float(main), "aux": float(aux), "val": vl and vl[0],
                        "val_aux": vl and vl[1], "seconds": round(el, 1)})
            print(f"step {step:6d}/{args.steps}  loss {float(main):.4f} aux {float(aux):.4f}"
                  + (f"  val {vl[0]:.4f} aux {vl[1]:.4f}" if vl is not None else "")
                  + f"  {el / 60:.1f} min, ETA {eta / 60:.1f} min", flush=True)
    save(end)


# ----------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------

def write_bundle(args, model, stats, S, A, n_obs, horizon, diffusion_cfg, metas, data, log, seconds, checkpoint):
    """Exports model (eval mode) as the bundle args.out: its ONNX files, policy.yaml (with
    diffusion_cfg as the diffusion section for a diffusion policy), stats.json and
    training.json; with args.checkpoint, also saves checkpoint there."""
    out = args.out
    if os.path.exists(out) and not args.force:
        raise SystemExit(f"{out} exists (use --force to replace it)")
    tmp = out + ".part"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    hw = data.images[CAMERAS[0]].shape[1:3]
    img_shape = [3, int(hw[0]), int(hw[1])]
    feats = {CAMERAS[0]: (img_shape, "mean_std"), CAMERAS[1]: (img_shape, "mean_std"),
             STATE: ([S], "min_max"), ACTION: ([A], "min_max")}
    ins = [CAMERAS[0], CAMERAS[1], STATE]
    diffusion = args.policy == "diffusion"
    # Not under torch.no_grad: without autograd, torch 1.13 takes nn.Transformer's fused
    # inference kernel (aten::_transformer_encoder_layer_fwd), which has no ONNX export.
    if diffusion:
        b = 1
        ex = (torch.zeros(b, n_obs, *img_shape), torch.zeros(b, n_obs, *img_shape), torch.zeros(b, n_obs, S))
        bundle.export(model.encoder, ex, os.path.join(tmp, "encoder.onnx"), ins, ["global_cond"])
        cond = model.encoder(*ex)
        bundle.export(model.denoiser, (torch.zeros(b, horizon, A), torch.zeros(b, dtype=torch.int64), cond),
                      os.path.join(tmp, "denoiser.onnx"), ["sample", "timestep", "global_cond"], ["noise_pred"])
        onnx_files = {"encoder": "encoder.onnx", "denoiser": "denoiser.onnx"}
        cfg = dict(rate=RATE, n_obs=n_obs, horizon=horizon, n_action_steps=8)
        bundle.write_policy_yaml(os.path.join(tmp, "policy.yaml"), args.name or "pickplace_diffusion",
                                 "diffusion", cfg, feats, onnx_files, diffusion_cfg,
                                 comment="Trained by tools/train/train.py diffusion (tools/train/README.md).")
    else:
        ex = (torch.zeros(1, *img_shape), torch.zeros(1, *img_shape), torch.zeros(1, S))
        bundle.export(model, ex, os.path.join(tmp, "policy.onnx"), ins, ["action"])
        cfg = dict(rate=RATE, n_obs=1, horizon=horizon, n_action_steps=1)
        bundle.write_policy_yaml(os.path.join(tmp, "policy.yaml"), args.name or "pickplace_act",
                                 "chunked", cfg, feats, {"policy": "policy.onnx"},
                                 comment="Trained by tools/train/train.py act (tools/train/README.md).")
    with open(os.path.join(tmp, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    if args.checkpoint:
        torch.save(checkpoint, args.checkpoint)
    with open(os.path.join(tmp, "training.json"), "w") as f:
        json.dump({"policy": args.policy, "command": " ".join(sys.argv), "datasets": [m["dataset"] for m in metas],
                   "episodes": sum(len(m["episodes"]) for m in metas), "frames": sum(m["frames"] for m in metas),
                   "steps": args.steps, "aux_weight": args.aux_weight,
                   "total_steps": checkpoint["steps"], "resumed_from": args.resume or None,
                   "batch": args.batch, "noise_samples": args.noise_samples, "lr": args.lr, "seed": args.seed, "threads": args.threads,
                   "seconds": round(seconds, 1), "torch": torch.__version__, "log": log}, f, indent=1)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.rename(tmp, out)
    print(f"wrote {out} ({seconds / 60:.1f} min of training)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("policy", choices=["diffusion", "act"])
    p.add_argument("--data", required=True, nargs="+", help="directories written by tools/train/export (one per dataset)")
    p.add_argument("--out", required=True, help="bundle directory to write (refused if it exists, unless --force)")
    p.add_argument("--force", action="store_true")
    p.add_argument("--name", default="")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--stop-after", type=int, default=0,
                   help="stop after this many steps of the --steps schedule (learning rate included): "
                        "an early checkpoint of the same run, e.g. BID's weak policy; 0 = train every step")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default 3e-4 diffusion, 1e-4 act)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--aux-weight", type=float, default=1.0,
                   help="weight of the auxiliary loss: the image encoders predict the cube's pose (observation.environment_state, training only; 0: off)")
    p.add_argument("--prediction", choices=["epsilon", "sample"], default="epsilon",
                   help="diffusion: what the denoiser predicts, the noise (Diffusion Policy's default) or the clean actions")
    p.add_argument("--noise-samples", type=int, default=4, help="diffusion: noise draws per observation in a batch")
    p.add_argument("--save-every", type=int, default=0, help="also export the bundle and checkpoint every N steps")
    p.add_argument("--checkpoint", default="", help="also save the training state here (torch.save) for --resume")
    p.add_argument("--resume", default="", help="continue training from a --checkpoint file")
    args = p.parse_args()
    if args.lr is None:
        args.lr = 3e-4 if args.policy == "diffusion" else 1e-4
    for path in args.data:
        if not os.path.exists(os.path.join(path, "meta.json")):
            raise SystemExit(f"{path}: no meta.json (write it with: go run ./tools/train/export -dataset DATASET -out {path})")
    if os.path.exists(args.out) and not args.force:
        raise SystemExit(f"{args.out} exists (use --force to replace it)")
    train(args)


if __name__ == "__main__":
    main()
