#!/usr/bin/python3
"""Trains a V-GPS value model (Nakamoto et al. 2024, arXiv:2410.13816) for the reference
diffusion policy from its own rollouts, and exports it as a steering bundle of kind value
(docs/steering.md) that `policy.steering.value.bundle` loads.

    robotd record --launch launch/pickplace_diffusion.yaml --source policy --fps 10 \\
        --task "pick up the cube and place it in the green zone" --episodes 100 --seed 3000 --out out/rollouts
    go run ./tools/train/export -dataset out/rollouts -out out/rollouts.npy
    /usr/bin/python3 tools/train/train_value.py --data out/rollouts.npy --out models/pickplace_value

(tools/train/README.md, "Steering models", has the whole recipe; `make train-value` runs it.)

The model is Q(scene image, wrist image, observation.state, executed chunk) -> the
discounted probability of success, models.py's ValueCNN with a sigmoid on its output. At
deploy robotd scores each of the policy's N candidate chunks by its executed window (the
actions [n_obs_steps - 1, horizon): 15 of the 16) with the latest observation; here a
frame's chunk is the 15 actions the policy actually executed from that frame on, as
recorded (the end of an episode padded by repeating its last action).

Target: Monte-Carlo, gamma^(frames until success) for the frames of a successful episode
(1 at the success frame and after it) and 0 for every frame of a failed one, learned with
a binary cross-entropy on that soft label. Why Monte-Carlo rather than an offline-RL critic
(V-GPS uses Cal-QL): the data are a few hundred on-policy rollouts of one frozen policy,
so the return actually observed from a frame is an unbiased sample of that policy's value
there, while a TD critic would bootstrap through its own estimates of actions it never saw
executed, with a sparse reward (success only, at the end) and little data to correct them.
The executed-chunk input still lets the model tell a candidate chunk that led to success
from one that did not, since the policy's own sampling varies from step to step.

Normalization is the policy bundle's (its stats.json, in the modes its policy.yaml
declares: images mean_std per channel, state and action min_max for the reference policy),
so the steering bundle has no stats.json of its own and robotd normalizes its inputs as it
does the policy's. Batches are balanced: half the frames from successful episodes, half
from failed ones (when both exist). A held-out split of episodes (stratified by outcome)
reports the loss and the AUC of episode success against the value at each episode's first
frame, the quantity steering relies on: does the model rank starts that will succeed above
those that will not.

Debian's python3 with torch 1.13 (CPU), numpy, onnx and yaml.
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # train.py's reason: no oversubscription
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import yaml  # noqa: E402

import bundle  # noqa: E402  (beside this file: the script's directory is on sys.path)
import models  # noqa: E402
from train import ACTION, CAMERAS, EMA, RATE, STATE, action_6d, lr_at, random_shift  # noqa: E402

SUCCESS = "next.success"


# ----------------------------------------------------------------------------------------
# The policy the value model steers
# ----------------------------------------------------------------------------------------

class Policy:
    """What the value model takes from the policy bundle dir: horizon, n_obs_steps, the
    features' shapes and normalization modes (policy.yaml) and the statistics
    (stats.json). steps = horizon - n_obs_steps + 1 is the executed window's length."""

    def __init__(self, path):
        cfg_path = os.path.join(path, "policy.yaml")
        with open(cfg_path) as f:
            cfg = yaml.safe_load(f)
        self.path = path
        self.name = cfg.get("name", os.path.basename(path.rstrip("/")))
        self.horizon = int(cfg["horizon"])
        self.n_obs = int(cfg.get("n_obs_steps", 1))
        self.steps = self.horizon - self.n_obs + 1
        self.features = {k: (list(v["shape"]), v["normalization"]) for k, v in cfg["features"].items()}
        for k in CAMERAS + [STATE, ACTION]:
            if k not in self.features:
                raise SystemExit(f"{cfg_path}: features: no {k} (the value model takes {', '.join(CAMERAS + [STATE, ACTION])})")
        stats_path = os.path.join(path, cfg.get("stats", "stats.json"))
        with open(stats_path) as f:
            stats = json.load(f)
        self.norm = {}
        for k, (shape, mode) in self.features.items():
            if mode == "identity":
                self.norm[k] = None
                continue
            if k not in stats:
                raise SystemExit(f"{stats_path}: no statistics for {k} ({mode} in {cfg_path})")
            t = lambda key: torch.tensor(stats[k][key], dtype=torch.float32)  # noqa: E731
            if mode == "mean_std":
                self.norm[k] = (mode, t("mean"), t("std"))
            elif mode == "min_max":
                self.norm[k] = (mode, t("min"), t("max"))
            else:
                raise SystemExit(f"{cfg_path}: features: {k}: normalization {mode}: want mean_std, min_max or identity")

    def normalize(self, k, x):
        """x in dataset units (images: float in [0, 1], [..., 3, H, W]) normalized as the
        policy's runtime does (policy/norm.go, LeRobot's epsilon 1e-8)."""
        n = self.norm[k]
        if n is None:
            return x
        mode, a, b = n
        if mode == "mean_std":
            return (x - a) / (b + 1e-8)
        return (x - a) / (b - a + 1e-8) * 2 - 1


# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------

class Rollouts:
    """The exported rollouts (tools/train/export) of one or more datasets: states and 6D
    actions in memory, images memory-mapped. Per frame: its dataset, its row there, its
    episode (numbered across datasets), the episode's outcome, the Monte-Carlo target and
    the rows of the executed chunk."""

    def __init__(self, paths, gamma, steps):
        self.images = []  # per dataset: {camera: mmap [rows,H,W,3] uint8}
        state, action, ds, row, ep, ok, target, chunk, first = [], [], [], [], [], [], [], [], []
        self.ep_success = []
        self.datasets = []
        at = 0
        for d, path in enumerate(paths):
            meta = json.load(open(os.path.join(path, "meta.json")))
            if meta["fps"] != RATE:
                raise SystemExit(f"{path}: recorded at {meta['fps']} fps; the policy runs at {RATE} Hz (record with --fps {RATE})")
            succ_path = os.path.join(path, SUCCESS + ".npy")
            if not os.path.exists(succ_path):
                raise SystemExit(f"{path}: no {SUCCESS}.npy (record the pick-and-place scene with robotd record: it labels success)")
            self.datasets.append(meta["dataset"])
            succ = np.load(succ_path)[:, 0] > 0.5
            state.append(np.load(os.path.join(path, STATE + ".npy")).astype(np.float32))
            action.append(action_6d(np.load(os.path.join(path, ACTION + ".npy"))))
            self.images.append({k: np.load(os.path.join(path, k + ".npy"), mmap_mode="r") for k in CAMERAS})
            for s, e in meta["episodes"]:
                n = e - s
                hit = np.flatnonzero(succ[s:e])
                good = len(hit) > 0
                t = np.arange(n)
                if good:  # gamma^(frames until the first success frame); 1 from it on
                    target.append(gamma ** np.maximum(hit[0] - t, 0).astype(np.float64))
                else:
                    target.append(np.zeros(n))
                rows = s + t
                ds.append(np.full(n, d))
                row.append(rows)
                ep.append(np.full(n, len(self.ep_success)))
                ok.append(np.full(n, good))
                first.append(t == 0)
                # The executed chunk from frame t: rows t .. t+steps-1, the end repeated.
                chunk.append(at + np.minimum(t[:, None] + np.arange(steps)[None], n - 1))
                self.ep_success.append(good)
                at += n
        if at == 0:
            raise SystemExit("no frames in " + ", ".join(paths))
        self.state = np.concatenate(state)
        self.action = np.concatenate(action)
        self.ds, self.row = np.concatenate(ds), np.concatenate(row)
        self.ep, self.ok = np.concatenate(ep), np.concatenate(ok)
        self.target = np.concatenate(target).astype(np.float32)
        self.chunk = np.concatenate(chunk)
        self.first = np.concatenate(first)
        self.ep_success = np.array(self.ep_success)
        self.n = at
        # Concatenated state/action rows are global frame indices (chunk indexes them).
        self.hw = self.images[0][CAMERAS[0]].shape[1:3]

    def gather_images(self, idx, k):
        """Camera k's frames for global frames idx: [B,H,W,3] uint8 (from each dataset's map)."""
        out = np.empty((len(idx), *self.images[0][k].shape[1:]), np.uint8)
        ds = self.ds[idx]
        for d in np.unique(ds):
            sel = np.flatnonzero(ds == d)
            rows = self.row[idx[sel]]
            order = np.argsort(rows)  # sorted reads from the map
            out[sel[order]] = self.images[d][k][rows[order]]
        return out


def split(data, fraction, seed):
    """Episode indices (train, held out): fraction of the successful and of the failed
    episodes each (at least one of a kind that has two or more), chosen by seed."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for kind in (True, False):
        eps = np.flatnonzero(data.ep_success == kind)
        rng.shuffle(eps)
        k = int(round(fraction * len(eps)))
        if fraction > 0 and len(eps) >= 2:
            k = max(k, 1)
        val += list(eps[:k])
        train += list(eps[k:])
    return np.array(sorted(train), np.int64), np.array(sorted(val), np.int64)


def batch(data, policy, idx, augment):
    """Normalized inputs for frames idx: (scene [B,3,H,W], wrist, state [B,S], chunk
    [B,steps,A]) and the targets [B]."""
    ims = []
    for k in CAMERAS:
        x = torch.from_numpy(data.gather_images(idx, k)).permute(0, 3, 1, 2).float().div_(255)
        if augment:
            x = random_shift(x, 4)
        ims.append(policy.normalize(k, x))
    state = policy.normalize(STATE, torch.from_numpy(data.state[idx]))
    chunk = policy.normalize(ACTION, torch.from_numpy(data.action[data.chunk[idx]]))
    return ims + [state, chunk], torch.from_numpy(data.target[idx])


def auc(scores, labels):
    """ROC AUC of scores for boolean labels (Mann-Whitney U with average ranks for ties);
    None without both kinds."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
    npos, nneg = labels.sum(), (~labels).sum()
    if npos == 0 or nneg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels].sum() - npos * (npos + 1) / 2) / (npos * nneg))


# ----------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------

class Value(nn.Module):
    """The exported model: ValueCNN's logit through a sigmoid, so the bundle's score is the
    predicted discounted success probability in [0, 1] (value.weight then weighs a
    quantity with a meaning)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, scene, wrist, state, action):
        return torch.sigmoid(self.net(scene, wrist, state, action))


def build(policy, args):
    s = policy.features
    hw = s[CAMERAS[0]][0][1]
    return models.ValueCNN(len(CAMERAS), hw, s[STATE][0][0], policy.steps, s[ACTION][0][0],
                           feat=args.feat, hidden=args.hidden)


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------

def train(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    policy = Policy(args.policy)
    data = Rollouts(args.data, args.gamma, policy.steps)
    want = policy.features[CAMERAS[0]][0][1:]
    if list(data.hw) != list(want):
        raise SystemExit(f"{args.data[0]}: images {list(data.hw)}, the policy's {CAMERAS[0]} is {want}")
    if data.state.shape[1] != policy.features[STATE][0][0]:
        raise SystemExit(f"{args.data[0]}: {STATE} has {data.state.shape[1]} values, the policy's {policy.features[STATE][0]}")
    if data.action.shape[1] != policy.features[ACTION][0][0]:
        raise SystemExit(f"{args.data[0]}: {ACTION} has {data.action.shape[1]} values in ee_pose_6d form, the policy's {policy.features[ACTION][0]}")
    train_eps, val_eps = split(data, args.val_fraction, args.seed)
    in_train = np.isin(data.ep, train_eps)
    pos = np.flatnonzero(in_train & data.ok)
    neg = np.flatnonzero(in_train & ~data.ok)
    val_frames = np.flatnonzero(np.isin(data.ep, val_eps))
    val_first = np.flatnonzero(np.isin(data.ep, val_eps) & data.first)
    if len(val_frames) > args.val_frames:  # a fixed, evenly spread subset for the loss
        val_frames = val_frames[np.linspace(0, len(val_frames) - 1, args.val_frames).astype(np.int64)]
    ns = int(data.ep_success.sum())
    print(f"train value for {policy.path}: {len(data.ep_success)} episodes ({ns} succeeded), {data.n} frames; "
          f"{len(train_eps)} episodes for training ({len(pos)} success / {len(neg)} failure frames), "
          f"{len(val_eps)} held out; chunk {policy.steps}x{policy.features[ACTION][0][0]}, gamma {args.gamma}; "
          f"{args.steps} steps of batch {args.batch}, {args.threads} thread(s)", flush=True)
    if len(pos) == 0 and len(neg) == 0:
        raise SystemExit("no training frames (every episode held out)")
    if len(pos) == 0 or len(neg) == 0:
        print("warning: the training episodes are all of one outcome; the model cannot learn to tell them apart", flush=True)

    model = build(policy, args)
    print(f"parameters: {sum(p.numel() for p in model.parameters()) / 1e6:.3f} M", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    ema = EMA(model)
    prior = 0
    if args.resume:
        ck = torch.load(args.resume)
        model.load_state_dict(ck["model"])
        ema.shadow, ema.steps = ck["ema"], ck["ema_steps"]
        opt.load_state_dict(ck["opt"])
        prior = ck["steps"]
        print(f"resumed from {args.resume} ({prior} steps)", flush=True)
    rng = np.random.default_rng(args.seed + prior)

    def sample(b):
        """Frames of a balanced batch: half from successful episodes, half from failed
        ones (all from one kind when the other has none)."""
        if len(pos) == 0 or len(neg) == 0:
            return rng.choice(pos if len(neg) == 0 else neg, b)
        h = b // 2
        return np.concatenate([rng.choice(pos, h), rng.choice(neg, b - h)])

    def ema_model():
        m = build(policy, args)
        m.load_state_dict(ema.shadow)
        return m.eval()

    def validate():
        """(loss, AUC at first frames, AUC over all held-out frames) of the EMA weights;
        None without held-out episodes."""
        if len(val_eps) == 0:
            return None
        m = ema_model()
        logits = []
        idx = np.concatenate([val_frames, val_first])
        with torch.no_grad():
            for i in range(0, len(idx), 128):
                x, _ = batch(data, policy, idx[i:i + 128], False)
                logits.append(m(*x))
        logits = torch.cat(logits)
        lf, l0 = logits[:len(val_frames)], logits[len(val_frames):]
        loss = F.binary_cross_entropy_with_logits(lf, torch.from_numpy(data.target[val_frames]))
        return (float(loss), auc(l0.numpy(), data.ok[val_first]), auc(lf.numpy(), data.ok[val_frames]))

    def save(done, last):
        """Exports the EMA weights as the bundle (written aside, renamed) and writes the
        checkpoint (after done steps of this run)."""
        checkpoint = {"model": model.state_dict(), "ema": ema.shadow, "ema_steps": ema.steps,
                      "opt": opt.state_dict(), "steps": prior + done}
        write_bundle(args, policy, Value(ema_model()), data, train_eps, val_eps, log, last,
                     time.time() - t0, prior + done)
        if args.checkpoint:
            torch.save(checkpoint, args.checkpoint + ".part")
            os.replace(args.checkpoint + ".part", args.checkpoint)
        args.force = True  # later saves replace this run's own bundle

    t0 = time.time()
    log, last = [], None
    model.train()
    for step in range(args.steps):
        if args.save_every and step > 0 and step % args.save_every == 0:
            save(step, last)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, warmup=min(200, max(1, args.steps // 10)))
        x, y = batch(data, policy, sample(args.batch), True)
        loss = F.binary_cross_entropy_with_logits(model(*x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        ema.update(model)
        if step % args.log_every == 0 or step == args.steps - 1:
            el = time.time() - t0
            eta = el / (step + 1) * (args.steps - step - 1)
            v = validate() if (step % (args.log_every * 5) == 0 or step == args.steps - 1) else None
            if v is not None:
                last = v
            log.append({"step": prior + step, "loss": float(loss), "val": v and v[0],
                        "val_auc_first": v and v[1], "val_auc_frames": v and v[2], "seconds": round(el, 1)})
            fmt = lambda a: "n/a" if a is None else f"{a:.3f}"  # noqa: E731
            print(f"step {prior + step:6d} ({step + 1}/{args.steps})  loss {float(loss):.4f}"
                  + (f"  val {v[0]:.4f} AUC first frames {fmt(v[1])} all frames {fmt(v[2])}" if v is not None else "")
                  + f"  {el / 60:.1f} min, ETA {eta / 60:.1f} min", flush=True)
    save(args.steps, last)


# ----------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------

def write_bundle(args, policy, model, data, train_eps, val_eps, log, last, seconds, total_steps):
    """Writes the steering bundle args.out: model.onnx (dynamic batch axis), steer.yaml
    (kind value, the policy's features and modes, no stats of its own) and training.json."""
    out = args.out
    if os.path.exists(out) and not args.force:
        raise SystemExit(f"{out} exists (use --force to replace it)")
    tmp = out.rstrip("/") + ".part"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    f = policy.features
    names = CAMERAS + [STATE, ACTION]
    ex = tuple(torch.zeros(2, *f[k][0]) for k in CAMERAS) + (
        torch.zeros(2, *f[STATE][0]), torch.zeros(2, policy.steps, *f[ACTION][0]))
    bundle.export(model.eval(), ex, os.path.join(tmp, "model.onnx"), names, ["value"])
    w = max(len(k) for k in names) + 1
    lines = [f"# V-GPS value model for {policy.name}: Q(images, state, executed chunk) = predicted",
             "# discounted success (Monte-Carlo target). Trained by tools/train/train_value.py",
             "# (tools/train/README.md, \"Steering models\"); normalized with the policy's statistics.",
             "kind: value", "model: model.onnx", f"horizon: {policy.horizon}", f"n_obs_steps: {policy.n_obs}",
             "action_span: chunk", "features:"]
    for k in names:
        shape, mode = f[k]
        lines.append(f"  {(k + ':').ljust(w)} {{shape: [{', '.join(str(int(x)) for x in shape)}], normalization: {mode}}}")
    lines.append("output: value")
    with open(os.path.join(tmp, "steer.yaml"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.join(tmp, "training.json"), "w") as fh:
        json.dump({"kind": "value", "policy": policy.path, "command": " ".join(sys.argv),
                   "datasets": data.datasets, "episodes": len(data.ep_success),
                   "succeeded": int(data.ep_success.sum()), "frames": data.n,
                   "train_episodes": len(train_eps), "held_out_episodes": [int(e) for e in val_eps],
                   "target": "monte_carlo", "gamma": args.gamma, "steps": args.steps, "total_steps": total_steps,
                   "resumed_from": args.resume or None, "batch": args.batch, "lr": args.lr,
                   "feat": args.feat, "hidden": args.hidden, "seed": args.seed, "threads": args.threads,
                   "val_loss": last and last[0], "val_auc_first_frames": last and last[1],
                   "val_auc_frames": last and last[2], "seconds": round(seconds, 1),
                   "torch": torch.__version__, "log": log}, fh, indent=1)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.rename(tmp, out)
    print(f"wrote {out} ({seconds / 60:.1f} min of training)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, nargs="+", help="directories written by tools/train/export from the policy's rollouts")
    p.add_argument("--out", required=True, help="steering bundle directory to write (refused if it exists, unless --force)")
    p.add_argument("--policy", default="models/pickplace_diffusion", help="the policy bundle the rollouts are of (its shapes, horizon and statistics)")
    p.add_argument("--force", action="store_true")
    p.add_argument("--gamma", type=float, default=0.99, help="discount per frame (10 fps) of the Monte-Carlo target")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (cosine schedule with warm-up)")
    p.add_argument("--feat", type=int, default=32, help="image features per camera (ValueCNN)")
    p.add_argument("--hidden", type=int, default=128, help="hidden units of the MLP head (ValueCNN)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="episodes held out, per outcome")
    p.add_argument("--val-frames", type=int, default=1024, help="held-out frames (evenly spread) for the validation loss")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--save-every", type=int, default=0, help="also export the bundle and checkpoint every N steps")
    p.add_argument("--checkpoint", default="", help="also save the training state here (torch.save) for --resume")
    p.add_argument("--resume", default="", help="continue training from a --checkpoint file")
    args = p.parse_args()
    for path in args.data:
        if not os.path.exists(os.path.join(path, "meta.json")):
            raise SystemExit(f"{path}: no meta.json (write it with: go run ./tools/train/export -dataset DATASET -out {path})")
    if os.path.exists(args.out) and not args.force:
        raise SystemExit(f"{args.out} exists (use --force to replace it)")
    if not 0 < args.gamma <= 1:
        raise SystemExit(f"--gamma {args.gamma}: want (0, 1]")
    train(args)


if __name__ == "__main__":
    main()
