#!/usr/bin/env python3
"""PyTorch eager peer for the policy runtime benchmarks.

Rebuilds the fixture models of policy/testdata (same classes, same seeds, so the same
weights as the exported ONNX files; checked against the saved parity outputs before timing)
and prints the median latency per call, one line per item, in microseconds:

    unet_encoder <us>       encoder.onnx peer, batch 1 (2 obs steps, 7-d state, 3x48x48 image)
    unet_denoiser <us>      denoiser.onnx peer (ConditionalUnet1D), batch 1
    act_policy <us>         act/policy.onnx peer (CNN + transformer), batch 1
    flow_denoiser <us>      flow/denoiser.onnx peer (MLP), batch 1
    unet_policy_step <us>   normalise raw obs + encoder + 10 DDIM steps + unnormalise, batch 1

Nothing else goes to stdout (errors go to stderr, with a non-zero exit).

    /usr/bin/python3 tools/bench/policy_torch.py [--threads 1] [--rounds 200] [--warmup 20]

Written for robotd's benchmarks; run with Debian's /usr/bin/python3 (torch 1.13).
"""
import argparse
import contextlib
import os
import statistics
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ inside policy/testdata

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.normpath(os.path.join(HERE, "..", "..", "policy", "testdata"))
sys.path.insert(0, TESTDATA)
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "train")))  # ref_sampler

import numpy as np  # noqa: E402
import torch  # noqa: E402

import gen_fixtures as gf  # noqa: E402
import ref_sampler as rs  # noqa: E402


def no_grad_ctx():
    stack = contextlib.ExitStack()
    stack.enter_context(torch.no_grad())
    if hasattr(torch, "inference_mode"):
        stack.enter_context(torch.inference_mode())
    return stack


def median_us(fn, rounds, warmup):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1000.0


def load_npz(rel):
    with np.load(os.path.join(TESTDATA, rel)) as z:
        return {k: z[k] for k in z.files}


def tensors(d, names, batch=None):
    out = []
    for n in names:
        a = d[n] if batch is None else d[n][:batch]
        out.append(torch.from_numpy(np.ascontiguousarray(a)))
    return out


def check(name, got, want, atol=1e-4):
    got = np.asarray(got)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=atol):
        err = np.abs(got - want).max() if got.shape == want.shape else "shape"
        sys.stderr.write(f"policy_torch: {name} does not match the fixture (max |d| {err})\n")
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--rounds", type=int, default=200, help="timed calls per item")
    ap.add_argument("--warmup", type=int, default=20, help="untimed calls first")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)

    models = {
        "unet_encoder": gf.build_unet_encoder(),
        "unet_denoiser": gf.build_unet_denoiser(),
        "act_policy": gf.build_act_policy(),
        "flow_denoiser": gf.build_flow_denoiser(),
    }
    files = {"unet_encoder": "unet/encoder", "unet_denoiser": "unet/denoiser",
             "act_policy": "act/policy", "flow_denoiser": "flow/denoiser"}

    cfg = dict(gf.UNET_DIFFUSION)
    stats = gf.load_stats(os.path.join(TESTDATA, "unet", "stats.json"))
    sk, ik = "observation.state", gf.UNET["img_key"]
    enc, den = models["unet_encoder"], models["unet_denoiser"]

    def unet_policy_step(raw_state, raw_img, noise):
        ns = rs.normalize(raw_state, stats[sk], "mean_std")
        ni = rs.normalize(raw_img, stats[ik], "mean_std")
        gc = enc(torch.from_numpy(ns[None]), torch.from_numpy(ni[None]))
        res = rs.sample_diffusion(lambda x, t: den(x, t, gc), noise, cfg, "ddim")
        return rs.unnormalize(res["final"], stats["action"], "min_max")

    run = load_npz("unet/ddim_run.npz")
    items = []
    with no_grad_ctx():
        # Same weights as the exported graphs: compare with the saved parity outputs.
        for key, m in models.items():
            ins, outs = gf.IO[key]
            x = load_npz(files[key] + "_inputs.npz")
            y = load_npz(files[key] + "_outputs.npz")[outs[0]]
            check(key, m(*tensors(x, ins)).numpy(), y)
            args1 = tensors(x, ins, batch=1)
            items.append((key, lambda m=m, a=args1: m(*a)))
        check("unet_policy_step",
              unet_policy_step(run[sk], run[ik], run["noise"]), run["actions"], atol=1e-3)

        raw_state, raw_img = run[sk], run[ik]
        H, A = gf.UNET["horizon"], gf.UNET["action_dim"]
        items.append(("unet_policy_step", lambda: unet_policy_step(
            raw_state, raw_img, torch.randn(1, H, A).numpy())))

        results = [(name, median_us(fn, args.rounds, args.warmup)) for name, fn in items]
    for name, us in results:
        print(f"{name} {us:.1f}")


if __name__ == "__main__":
    main()
