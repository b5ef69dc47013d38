#!/usr/bin/python3
"""Checks that robotd runs an exported bundle as PyTorch does: recorded observations go
through the training checkpoint's EMA weights in torch and through `robotd policy run`
(ONNX Runtime, robotd's normalization and sampler), and the actions must agree.

    /usr/bin/python3 tools/train/parity.py act --data out/demos.npy --bundle models/pickplace_act --checkpoint out/act.pt

Exit status 1 when the largest difference of normalized actions exceeds --tol. The
networks are built by train.py (models.py's), the reference sampling by ref_sampler.py.
"""
import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ref_sampler as rs  # noqa: E402  (beside this file: the script's directory is on sys.path)
import train as T  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("policy", choices=["diffusion", "act"])
    p.add_argument("--data", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--rows", type=int, nargs="*", default=[5, 60, 400, 2000])
    p.add_argument("--tol", type=float, default=2e-3)
    p.add_argument("--robotd", default="go run ./cmd/robotd")
    args = p.parse_args()
    ck = torch.load(args.checkpoint)
    meta = json.load(open(os.path.join(args.data, "meta.json")))
    data = T.Data([(args.data, range(len(meta["episodes"])))])
    norm = T.Normalizer(ck["stats"])
    S, A = data.state.shape[1], data.action.shape[1]
    diffusion = args.policy == "diffusion"
    n_obs, H = T.n_obs_of(args.policy), T.HORIZON
    model = T.build_model(args.policy, S, A)
    model.load_state_dict(ck["ema"])
    model.eval()
    worst = 0.0
    tmp = tempfile.mkdtemp()
    for row in args.rows:
        obs, _ = data.window(np.array([row]), n_obs, H)
        raw = {T.STATE: data.state[obs[0]]}
        for k in T.CAMERAS:
            raw[k] = data.images[k][torch.from_numpy(obs[0])].numpy().transpose(0, 3, 1, 2).astype(np.float32) / 255
        if n_obs == 1:
            raw = {k: v[0] for k, v in raw.items()}
        inp = os.path.join(tmp, f"obs{row}.npz")
        np.savez(inp, **raw)
        out = os.path.join(tmp, f"act{row}.npz")
        cmd = args.robotd.split() + ["policy", "run", "--bundle", args.bundle, "--inputs", inp, "--out", out]
        state = norm.state(torch.from_numpy(raw[T.STATE])[None])
        imgs = [norm.image(k, torch.from_numpy(raw[k])[None]) for k in T.CAMERAS]
        with torch.no_grad():
            if diffusion:
                noise = np.random.default_rng(row).standard_normal((1, H, A)).astype(np.float32)
                np.save(os.path.join(tmp, "noise.npy"), noise)
                cmd += ["--noise", os.path.join(tmp, "noise.npy")]
                cond = model.encoder(imgs[0], imgs[1], state)
                cfg = T.diffusion_config(ck.get("prediction", "epsilon"))
                ref = rs.sample_diffusion(lambda x, t: model.denoiser(x, t, cond),
                                          torch.from_numpy(noise), cfg)["final"]
            else:
                ref = model(imgs[0], imgs[1], state)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        got = np.load(out)["action.normalized"].reshape(-1, H, A)[0]
        d = float(np.abs(got - np.asarray(ref)[0]).max())
        worst = max(worst, d)
        print(f"row {row}: max |robotd - torch| of normalized actions {d:.2e}")
    print(f"worst {worst:.2e} (tolerance {args.tol})")
    sys.exit(0 if worst <= args.tol else 1)


if __name__ == "__main__":
    main()
