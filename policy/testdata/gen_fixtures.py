#!/usr/bin/env python3
"""Generates robotd's policy test bundles (policy/testdata/{unet,act,flow}) and their parity
data. Deterministic: fixed torch and numpy seeds, one CPU thread. Re-run with

    /usr/bin/python3 policy/testdata/gen_fixtures.py [--out DIR]

(Debian's python3 with torch 1.13, onnx 1.12 and numpy; --out writes the three bundles
under DIR instead of beside this file, to compare a regeneration with the committed ones).
The networks are tools/train/models.py's, the ONNX export and policy.yaml writer
tools/train/bundle.py's and the reference samplers tools/train/ref_sampler.py's: the same
modules tools/train/train.py trains the reference policies with. This file holds the
fixtures' sizes, seeds and I/O names, the seeded builders and the generation. Importing it
only puts tools/train on sys.path (tools/bench/policy_torch.py imports the builders from
here, and the builders seed torch themselves, so both get the same weights as the exported
ONNX files).

See README.md in this directory for the file list and the equations.
"""
import sys

if __name__ == "__main__":
    sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.normpath(os.path.join(HERE, "..", "..", "tools", "train"))
if TRAIN not in sys.path:
    sys.path.insert(0, TRAIN)

import bundle  # noqa: E402
import models  # noqa: E402
import ref_sampler as rs  # noqa: E402


# ----------------------------------------------------------------------------------------
# Bundle configurations (written verbatim to policy.yaml)
# ----------------------------------------------------------------------------------------

UNET_DIFFUSION = bundle.ddim_schedule()

FLOW_DIFFUSION = {
    "num_train_timesteps": 1000,  # unused by the euler sampler
    "prediction_type": "velocity",
    "sampler": "euler",
    "num_inference_steps": 10,
    "clip_sample": False,
}

UNET = dict(n_obs=2, horizon=16, n_action_steps=8, rate=10, state_dim=7, action_dim=7,
            img=(3, 48, 48), img_key="observation.images.wrist", img_feat=32,
            down_dims=(16, 32, 64), kernel_size=5, n_groups=8, step_embed=32)
UNET["cond_dim"] = UNET["n_obs"] * (UNET["state_dim"] + UNET["img_feat"])  # 78

ACT = dict(n_obs=1, horizon=20, n_action_steps=20, rate=50, state_dim=14, action_dim=14,
           img=(3, 64, 64), img_key="observation.images.top", d_model=64, nhead=4,
           dim_ff=128, enc_layers=2, dec_layers=1)

FLOW = dict(n_obs=2, horizon=8, n_action_steps=4, rate=20, state_dim=6, action_dim=4,
            step_embed=32, hidden=256)
FLOW["cond_dim"] = FLOW["n_obs"] * FLOW["state_dim"]  # 12

SEEDS = {"unet_encoder": 1001, "unet_denoiser": 1002, "act_policy": 1003,
         "flow_denoiser": 1004}


# ----------------------------------------------------------------------------------------
# Builders (seeded: same weights every call; the networks are tools/train/models.py's)
# ----------------------------------------------------------------------------------------

def build_unet_encoder():
    torch.manual_seed(SEEDS["unet_encoder"])
    return models.UnetEncoder(UNET["n_obs"], UNET["state_dim"], UNET["img"], UNET["img_feat"]).eval()


def build_unet_denoiser():
    torch.manual_seed(SEEDS["unet_denoiser"])
    return models.ConditionalUnet1D(UNET["action_dim"], UNET["cond_dim"], UNET["step_embed"],
                                    UNET["down_dims"], UNET["kernel_size"], UNET["n_groups"]).eval()


def build_act_policy():
    torch.manual_seed(SEEDS["act_policy"])
    return models.ACTPolicy(ACT["state_dim"], ACT["action_dim"], ACT["img"], ACT["horizon"],
                            ACT["d_model"], ACT["nhead"], ACT["dim_ff"], ACT["enc_layers"],
                            ACT["dec_layers"]).eval()


def build_flow_denoiser():
    torch.manual_seed(SEEDS["flow_denoiser"])
    return models.FlowDenoiser(FLOW["horizon"], FLOW["action_dim"], FLOW["cond_dim"],
                               FLOW["step_embed"], FLOW["hidden"]).eval()


# Model I/O names (docs/policy-bundle.md).
IO = {
    "unet_encoder": (["observation.state", UNET["img_key"]], ["global_cond"]),
    "unet_denoiser": (["sample", "timestep", "global_cond"], ["noise_pred"]),
    "act_policy": (["observation.state", ACT["img_key"]], ["action"]),
    "flow_denoiser": (["sample", "timestep", "global_cond"], ["velocity"]),
}


def load_stats(path):
    with open(path) as f:
        return json.load(f)


# ----------------------------------------------------------------------------------------
# Generation (only under __main__)
# ----------------------------------------------------------------------------------------

def _stat_block(rng, dim, mean_range, std_range):
    mean = rng.uniform(*mean_range, size=dim)
    std = rng.uniform(*std_range, size=dim)
    lo = mean - rng.uniform(2.0, 3.0, size=dim) * std
    hi = mean + rng.uniform(2.0, 3.0, size=dim) * std
    r = lambda a: [round(float(v), 6) for v in a]  # noqa: E731
    return {"mean": r(mean), "std": r(std), "min": r(lo), "max": r(hi)}


def _image_stats(mean, std):
    n = lambda v: [[[float(x)]] for x in v]  # noqa: E731  shape [3,1,1]
    return {"mean": n(mean), "std": n(std), "min": n([0.0, 0.0, 0.0]), "max": n([1.0, 1.0, 1.0])}


def export(model, args, path, key):
    """Exports a fixture model to path under its I/O names (IO[key]), pinned and checked as
    tools/train/bundle.export does for every bundle."""
    ins, outs = IO[key]
    bundle.export(model, args, path, ins, outs)


def savez(path, **arrays):
    np.savez(path, **arrays)


def run_model(model, inputs):
    with torch.no_grad():
        out = model(*[torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
    return out.numpy()


def gen_unet(root):
    d = os.path.join(root, "unet")
    os.makedirs(d, exist_ok=True)
    rng = np.random.RandomState(11)
    sk, ik = "observation.state", UNET["img_key"]
    stats = {
        "action": _stat_block(rng, UNET["action_dim"], (-0.8, 0.8), (0.1, 0.5)),
        sk: _stat_block(rng, UNET["state_dim"], (-0.8, 0.8), (0.1, 0.5)),
        ik: _image_stats([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    }
    with open(os.path.join(d, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    stats = load_stats(os.path.join(d, "stats.json"))
    bundle.write_policy_yaml(
        os.path.join(d, "policy.yaml"), "fixture_unet_ddim", "diffusion", UNET,
        {sk: ([UNET["state_dim"]], "mean_std"), ik: (list(UNET["img"]), "mean_std"),
         "action": ([UNET["action_dim"]], "min_max")},
        {"encoder": "encoder.onnx", "denoiser": "denoiser.onnx"}, UNET_DIFFUSION,
        comment="Test fixture (random weights), generated by policy/testdata/gen_fixtures.py.")

    enc, den = build_unet_encoder(), build_unet_denoiser()
    n, (c, h, w), C = UNET["n_obs"], UNET["img"], UNET["cond_dim"]
    H, A = UNET["horizon"], UNET["action_dim"]

    # Parity I/O, batch 2.
    r = np.random.RandomState(12)
    enc_in = [r.randn(2, n, UNET["state_dim"]).astype(np.float32),
              r.randn(2, n, c, h, w).astype(np.float32)]
    export(enc, tuple(torch.from_numpy(x) for x in enc_in), os.path.join(d, "encoder.onnx"),
           "unet_encoder")
    savez(os.path.join(d, "encoder_inputs.npz"), **{sk: enc_in[0], ik: enc_in[1]})
    savez(os.path.join(d, "encoder_outputs.npz"), global_cond=run_model(enc, enc_in))

    den_in = [r.randn(2, H, A).astype(np.float32), r.randint(0, 100, size=2).astype(np.int64),
              r.randn(2, C).astype(np.float32)]
    export(den, tuple(torch.from_numpy(x) for x in den_in), os.path.join(d, "denoiser.onnx"),
           "unet_denoiser")
    savez(os.path.join(d, "denoiser_inputs.npz"), sample=den_in[0], timestep=den_in[1],
          global_cond=den_in[2])
    savez(os.path.join(d, "denoiser_outputs.npz"), noise_pred=run_model(den, den_in))

    # Sampling runs from one raw observation history.
    r = np.random.RandomState(13)
    st = stats[sk]
    raw_state = (np.asarray(st["mean"]) + np.asarray(st["std"]) * r.randn(n, UNET["state_dim"]))
    raw_state = raw_state.astype(np.float32)
    raw_img = r.uniform(0, 1, size=(n, c, h, w)).astype(np.float32)
    nstate = rs.normalize(raw_state, st, "mean_std")
    nimg = rs.normalize(raw_img, stats[ik], "mean_std")
    gc = run_model(enc, [nstate[None], nimg[None]])  # [1, C]

    def denoise_for(g):
        gt = torch.from_numpy(g)

        def f(x, t):
            with torch.no_grad():
                return den(x, t, gt.expand(x.shape[0], -1))
        return f

    base = {sk: raw_state, ik: raw_img, "normalized." + sk: nstate, "normalized." + ik: nimg,
            "global_cond": gc}

    def save_run(name, res, noise, extra=None):
        out = dict(base)
        out.update(noise=noise, normalized_actions=res["final"],
                   actions=rs.unnormalize(res["final"], stats["action"], "min_max"),
                   timesteps=res["timesteps"], trajectory=res["trajectory"])
        if extra:
            out.update(extra)
        savez(os.path.join(d, name), **out)

    cfg = dict(UNET_DIFFUSION)
    K = cfg["num_inference_steps"]
    noise = r.randn(1, H, A).astype(np.float32)
    save_run("ddim_run.npz", rs.sample_diffusion(denoise_for(gc), noise, cfg, "ddim"), noise)

    noise = r.randn(1, H, A).astype(np.float32)
    step_noise = r.randn(K, 1, H, A).astype(np.float32)
    ts = rs.leading_timesteps(cfg["num_train_timesteps"], K, cfg["steps_offset"])
    step_noise[ts == 0] = 0.0  # diffusers draws (and adds) no noise when t == 0
    res = rs.sample_diffusion(denoise_for(gc), noise, cfg, "ddpm", step_noise=step_noise)
    save_run("ddpm_run.npz", res, noise, {"step_noise": step_noise})

    noise = r.randn(3, H, A).astype(np.float32)
    save_run("ddim_batch_run.npz", rs.sample_diffusion(denoise_for(gc), noise, cfg, "ddim"), noise)

    noise = r.randn(1, H, A).astype(np.float32)
    prefix = np.clip(r.randn(1, 4, A) * 0.4, -1, 1).astype(np.float32)
    start = UNET["n_obs"] - 1  # robotd executes (and freezes) from here
    res = rs.sample_diffusion(denoise_for(gc), noise, cfg, "ddim", prefix=prefix, prefix_start=start)
    save_run("ddim_inpaint_run.npz", res, noise, {"prefix": prefix, "prefix_start": np.int64(start)})


def gen_act(root):
    d = os.path.join(root, "act")
    os.makedirs(d, exist_ok=True)
    rng = np.random.RandomState(21)
    sk, ik = "observation.state", ACT["img_key"]
    stats = {
        "action": _stat_block(rng, ACT["action_dim"], (-0.6, 0.6), (0.05, 0.4)),
        sk: _stat_block(rng, ACT["state_dim"], (-0.6, 0.6), (0.05, 0.4)),
        ik: _image_stats([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    }
    with open(os.path.join(d, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    stats = load_stats(os.path.join(d, "stats.json"))
    bundle.write_policy_yaml(
        os.path.join(d, "policy.yaml"), "fixture_act", "chunked", ACT,
        {sk: ([ACT["state_dim"]], "mean_std"), ik: (list(ACT["img"]), "mean_std"),
         "action": ([ACT["action_dim"]], "mean_std")},
        {"policy": "policy.onnx"},
        comment="Test fixture (random weights), generated by policy/testdata/gen_fixtures.py.")

    pol = build_act_policy()
    c, h, w = ACT["img"]
    r = np.random.RandomState(22)
    ins = [r.randn(2, ACT["state_dim"]).astype(np.float32), r.randn(2, c, h, w).astype(np.float32)]
    export(pol, tuple(torch.from_numpy(x) for x in ins), os.path.join(d, "policy.onnx"),
           "act_policy")
    savez(os.path.join(d, "policy_inputs.npz"), **{sk: ins[0], ik: ins[1]})
    savez(os.path.join(d, "policy_outputs.npz"), action=run_model(pol, ins))

    r = np.random.RandomState(23)
    st = stats[sk]
    raw_state = (np.asarray(st["mean"]) + np.asarray(st["std"]) * r.randn(ACT["state_dim"]))
    raw_state = raw_state.astype(np.float32)
    raw_img = r.uniform(0, 1, size=(c, h, w)).astype(np.float32)
    nstate = rs.normalize(raw_state, st, "mean_std")
    nimg = rs.normalize(raw_img, stats[ik], "mean_std")
    y = run_model(pol, [nstate[None], nimg[None]])
    savez(os.path.join(d, "act_run.npz"), **{
        sk: raw_state, ik: raw_img, "normalized." + sk: nstate, "normalized." + ik: nimg,
        "normalized_actions": y, "actions": rs.unnormalize(y, stats["action"], "mean_std")})


def gen_flow(root):
    d = os.path.join(root, "flow")
    os.makedirs(d, exist_ok=True)
    rng = np.random.RandomState(31)
    sk = "observation.state"
    stats = {
        "action": _stat_block(rng, FLOW["action_dim"], (-0.5, 0.5), (0.1, 0.3)),
        sk: _stat_block(rng, FLOW["state_dim"], (-0.5, 0.5), (0.1, 0.3)),
    }
    with open(os.path.join(d, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    stats = load_stats(os.path.join(d, "stats.json"))
    bundle.write_policy_yaml(
        os.path.join(d, "policy.yaml"), "fixture_flow", "flow", FLOW,
        {sk: ([FLOW["state_dim"]], "mean_std"), "action": ([FLOW["action_dim"]], "min_max")},
        {"denoiser": "denoiser.onnx"}, FLOW_DIFFUSION,
        comment="Test fixture (random weights), generated by policy/testdata/gen_fixtures.py.")

    den = build_flow_denoiser()
    H, A, C = FLOW["horizon"], FLOW["action_dim"], FLOW["cond_dim"]
    r = np.random.RandomState(32)
    ins = [r.randn(2, H, A).astype(np.float32), r.uniform(0, 1, size=2).astype(np.float32),
           r.randn(2, C).astype(np.float32)]
    export(den, tuple(torch.from_numpy(x) for x in ins), os.path.join(d, "denoiser.onnx"),
           "flow_denoiser")
    savez(os.path.join(d, "denoiser_inputs.npz"), sample=ins[0], timestep=ins[1],
          global_cond=ins[2])
    savez(os.path.join(d, "denoiser_outputs.npz"), velocity=run_model(den, ins))

    r = np.random.RandomState(33)
    st = stats[sk]
    raw_state = (np.asarray(st["mean"]) + np.asarray(st["std"]) * r.randn(FLOW["n_obs"],
                                                                          FLOW["state_dim"]))
    raw_state = raw_state.astype(np.float32)
    nstate = rs.normalize(raw_state, st, "mean_std")
    gc = nstate.reshape(1, -1)  # [1, n_obs*6], step-major
    gct = torch.from_numpy(gc)
    noise = r.randn(1, H, A).astype(np.float32)

    def vel(x, t):
        with torch.no_grad():
            return den(x, t, gct.expand(x.shape[0], -1))

    res = rs.sample_euler(vel, noise, FLOW_DIFFUSION["num_inference_steps"])
    savez(os.path.join(d, "euler_run.npz"), **{
        sk: raw_state, "normalized." + sk: nstate, "global_cond": gc, "noise": noise,
        "timesteps": res["timesteps"], "trajectory": res["trajectory"],
        "normalized_actions": res["final"],
        "actions": rs.unnormalize(res["final"], stats["action"], "min_max")})


def main():
    p = argparse.ArgumentParser(description="Generates robotd's policy test bundles (policy/testdata/README.md).")
    p.add_argument("--out", default=HERE, help="directory to write unet/, act/ and flow/ into (default: beside this file)")
    out = p.parse_args().out
    torch.set_num_threads(1)
    np.set_printoptions(precision=4, suppress=True)
    gen_unet(out)
    gen_act(out)
    gen_flow(out)


if __name__ == "__main__":
    main()
