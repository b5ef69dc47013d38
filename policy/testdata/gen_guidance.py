#!/usr/bin/env python3
"""Generates policy/testdata/guided: a diffusion bundle whose denoiser takes a fourth input,
cond_mask (float32 [B]: 1 = conditioned on global_cond, 0 = unconditional), as a denoiser
trained with condition dropout for classifier-free guidance does (Ho & Salimans 2022;
BESO, Reuss et al. 2023), and the reference sampling runs robotd's guided Step must
reproduce. Deterministic: fixed torch and numpy seeds, one CPU thread.

    /usr/bin/python3 policy/testdata/gen_guidance.py [--out DIR]

(Debian's python3 with torch 1.13, onnx 1.12 and numpy; --out writes guided/ under DIR
instead of beside this file.) The weights are random (never trained) but the mask branch
is real: with mask 0 the network replaces its embedding of global_cond by a learned null
embedding, so the conditional and unconditional outputs differ. The policy.yaml writer,
ONNX export and reference DDIM sampler are tools/train's, as in gen_fixtures.py, which
this script leaves alone.

Guided reference (what policy.Policy.SetGuidance(w) must compute at every denoiser call):

    w == 1:  out = net(x, t, cond, mask 1)                        one pass, N rows
    else:    [out_c; out_u] = net([x; x], t, [cond; cond], [1..1; 0..0])   one pass, 2N rows
             out = out_u + w * (out_c - out_u)                    float32

Besides the bundle's denoiser.onnx, three variants of the same network differ only in
cond_mask: mask_col.onnx (float32 [B, 1], accepted), mask_int64.onnx (int64 [B], refused)
and mask_wide.onnx (float32 [B, 2], refused). See README.md in this directory.
"""
import sys

if __name__ == "__main__":
    sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.normpath(os.path.join(HERE, "..", "..", "tools", "train"))
if TRAIN not in sys.path:
    sys.path.insert(0, TRAIN)

import bundle  # noqa: E402
import models  # noqa: E402
import ref_sampler as rs  # noqa: E402

DIFFUSION = bundle.ddim_schedule()

# No encoder: global_cond is the normalized state history flattened step-major.
GUIDED = dict(n_obs=2, horizon=8, n_action_steps=4, rate=10, state_dim=6, action_dim=4,
              step_embed=16, cond_embed=16, hidden=128)
GUIDED["cond_dim"] = GUIDED["n_obs"] * GUIDED["state_dim"]  # 12
SEED = 1006
INS, OUTS = ["sample", "timestep", "global_cond", "cond_mask"], ["noise_pred"]
WEIGHTS = (0.0, 1.0, 3.0)  # guidance weights of the reference runs
SAMPLES = (1, 3)  # candidates per step of the reference runs


class GuidedDenoiser(nn.Module):
    """MLP noise predictor with a condition-dropout branch. forward(sample [B,H,A],
    timestep int64 [B], global_cond [B,C], cond_mask [B] or [B,k]) -> noise_pred [B,H,A].
    The conditioning embedding is mask * proj(global_cond) + (1 - mask) * null, with mask
    the first column of cond_mask as float32 (so the same weights serve the variants whose
    cond_mask has another dtype or shape). The last layers are scaled up so that random
    weights give outputs of order 1 that depend on the condition."""

    def __init__(self, horizon, action_dim, cond_dim, step_embed, cond_embed, hidden):
        super().__init__()
        self.h, self.a = horizon, action_dim
        self.time_mlp = nn.Sequential(models.SinusoidalPosEmb(step_embed),
                                      nn.Linear(step_embed, 2 * step_embed), nn.Mish(),
                                      nn.Linear(2 * step_embed, step_embed))
        self.cond_proj = nn.Sequential(nn.Linear(cond_dim, hidden), nn.Mish(),
                                       nn.Linear(hidden, cond_embed))
        self.null = nn.Parameter(torch.randn(cond_embed))
        d = horizon * action_dim
        self.net = nn.Sequential(nn.Linear(d + step_embed + cond_embed, hidden), nn.Mish(),
                                 nn.Linear(hidden, hidden), nn.Mish(),
                                 nn.Linear(hidden, d))
        with torch.no_grad():
            self.cond_proj[-1].weight.mul_(4.0)
            self.net[-1].weight.mul_(3.0)

    def forward(self, sample, timestep, global_cond, cond_mask):
        m = cond_mask.to(torch.float32).reshape(cond_mask.shape[0], -1)[:, :1]
        c = m * self.cond_proj(global_cond) + (1 - m) * self.null
        x = torch.cat([sample.reshape(-1, self.h * self.a), self.time_mlp(timestep), c], dim=-1)
        return self.net(x).reshape(-1, self.h, self.a)


def build_guided_denoiser():
    torch.manual_seed(SEED)
    g = GUIDED
    return GuidedDenoiser(g["horizon"], g["action_dim"], g["cond_dim"], g["step_embed"],
                          g["cond_embed"], g["hidden"]).eval()


def guided_denoise(den, cond, w):
    """The reference guided denoiser call: cond [1, C] broadcast over the batch."""
    def f(x, t):
        n = x.shape[0]
        with torch.no_grad():
            if w == 1.0:
                return den(x, t, cond.expand(n, -1), torch.ones(n))
            mask = torch.cat([torch.ones(n), torch.zeros(n)])
            out = den(torch.cat([x, x]), torch.cat([t, t]), cond.expand(2 * n, -1), mask)
            c, u = out[:n], out[n:]
            return u + torch.tensor(w, dtype=torch.float32) * (c - u)
    return f


def _stat_block(rng, dim):
    mean = rng.uniform(-0.5, 0.5, size=dim)
    std = rng.uniform(0.1, 0.4, size=dim)
    lo = mean - rng.uniform(2.0, 3.0, size=dim) * std
    hi = mean + rng.uniform(2.0, 3.0, size=dim) * std
    r = lambda a: [round(float(v), 6) for v in a]  # noqa: E731
    return {"mean": r(mean), "std": r(std), "min": r(lo), "max": r(hi)}


def run_model(model, inputs):
    with torch.no_grad():
        out = model(*[torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
    return out.numpy()


def gen(root):
    d = os.path.join(root, "guided")
    os.makedirs(d, exist_ok=True)
    g = GUIDED
    rng = np.random.RandomState(61)
    sk = "observation.state"
    stats = {"action": _stat_block(rng, g["action_dim"]), sk: _stat_block(rng, g["state_dim"])}
    with open(os.path.join(d, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    with open(os.path.join(d, "stats.json")) as f:
        stats = json.load(f)
    bundle.write_policy_yaml(
        os.path.join(d, "policy.yaml"), "fixture_guided_mlp", "diffusion", g,
        {sk: ([g["state_dim"]], "mean_std"), "action": ([g["action_dim"]], "min_max")},
        {"denoiser": "denoiser.onnx"}, DIFFUSION,
        comment="Test fixture (random weights, cond_mask input for guidance), generated by policy/testdata/gen_guidance.py.")

    den = build_guided_denoiser()
    H, A, C = g["horizon"], g["action_dim"], g["cond_dim"]
    r = np.random.RandomState(62)
    # Parity I/O, batch 4: two rows conditioned, two not.
    ins = [r.randn(4, H, A).astype(np.float32), r.randint(0, 100, size=4).astype(np.int64),
           r.randn(4, C).astype(np.float32), np.array([1, 0, 1, 0], dtype=np.float32)]
    args = tuple(torch.from_numpy(x) for x in ins)
    bundle.export(den, args, os.path.join(d, "denoiser.onnx"), INS, OUTS)
    np.savez(os.path.join(d, "denoiser_inputs.npz"), **dict(zip(INS, ins)))
    np.savez(os.path.join(d, "denoiser_outputs.npz"), noise_pred=run_model(den, ins))

    # The variants: the same weights, cond_mask of another shape or dtype.
    variants = {"mask_col.onnx": torch.from_numpy(ins[3][:, None]),
                "mask_int64.onnx": torch.from_numpy(ins[3].astype(np.int64)),
                "mask_wide.onnx": torch.from_numpy(np.stack([ins[3], ins[3]], axis=1))}
    for name, mask in variants.items():
        bundle.export(den, args[:3] + (mask,), os.path.join(d, name), INS, OUTS)

    # Reference runs from one raw state history.
    r = np.random.RandomState(63)
    st = stats[sk]
    raw_state = (np.asarray(st["mean"]) + np.asarray(st["std"]) * r.randn(g["n_obs"], g["state_dim"]))
    raw_state = raw_state.astype(np.float32)
    nstate = rs.normalize(raw_state, st, "mean_std")
    gc = nstate.reshape(1, -1)  # [1, n_obs*6], step-major
    gct = torch.from_numpy(gc)
    finals = {}
    for n in SAMPLES:
        noise = r.randn(n, H, A).astype(np.float32)
        for w in WEIGHTS:
            res = rs.sample_diffusion(guided_denoise(den, gct, w), noise, dict(DIFFUSION), "ddim")
            finals[(n, w)] = res["final"]
            np.savez(os.path.join(d, f"ddim_w{w:g}_n{n}.npz"), **{
                sk: raw_state, "normalized." + sk: nstate, "global_cond": gc, "noise": noise,
                "guidance": np.float64(w), "timesteps": res["timesteps"],
                "trajectory": res["trajectory"], "normalized_actions": res["final"],
                "actions": rs.unnormalize(res["final"], stats["action"], "min_max")})
    for n in SAMPLES:
        for w in WEIGHTS:
            diff = np.abs(finals[(n, w)] - finals[(n, 1.0)]).max()
            print(f"N={n} w={w:g}: max |final - final(w=1)| = {diff:.3f}")


def main():
    p = argparse.ArgumentParser(description="Generates policy/testdata/guided (README.md).")
    p.add_argument("--out", default=HERE, help="directory to write guided/ into (default: beside this file)")
    out = p.parse_args().out
    torch.set_num_threads(1)
    gen(out)


if __name__ == "__main__":
    main()
