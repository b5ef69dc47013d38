#!/usr/bin/python3
"""PyTorch eager peer of robotd's steering benchmark (policy/steer/policy_bench_test.go,
BenchmarkPolicyStep): one steered step of the reference diffusion policy
(models/pickplace_diffusion) with N candidates drawn in one batched call, for each scorer
configuration, timed the same way.

    /usr/bin/python3 tools/train/steer_bench.py --write-value DIR     # the value bundle the Go side loads
    /usr/bin/python3 tools/train/steer_bench.py --check ROBOTD        # torch vs `ROBOTD policy run`, then exit
    /usr/bin/python3 tools/train/steer_bench.py [--threads 1] [--reps 10] [--warmup 2] [--n 1 4 8 16]

Timing prints one line per configuration on stdout, "N=<n>/<scorer> <p50 ms> <p99 ms>"
(scorers: plain, coherence, contrast, past, value, all), nothing else (progress and
errors go to stderr). scripts/bench.d/steer.sh runs this and the Go benchmark in one run.

The networks are train.py's (models.DiffusionPolicy, the module the reference policy was
trained with). The training checkpoint is not in the repository, so the weights are read
from the bundle's ONNX files: parameters by name, and the GroupNorm scales and shifts,
which the exporter folds into unnamed Mul/Add constants, in execution order. --check
confirms the result runs as robotd does (normalized actions from the same observation and
noise). A step is what the Go benchmark times:

  normalize the raw observation history, encoder once, 10 DDIM steps of the denoiser on
  N rows (tools/train/ref_sampler.py, the Go sampler's reference), unnormalize the whole
  horizon; contrast: the same again for the weak stand-in (the same bundle); value: the
  value model (models.ValueMLP, written by --write-value) on the N executed windows; then
  the scorers, combination and selection of tools/train/steer_ref.py (what the Go scorers
  are tested against) with the same parameters: coherence beta 0.5 against a running
  plan that started n_action_steps actions ago, contrast K = max(1, N // 3), past over
  the predicted past with a 64-action history, argmax (all: softmax, temperature 1).

Debian's /usr/bin/python3 with torch 1.13, onnx 1.12, numpy.
"""
import sys

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import bundle  # noqa: E402  (beside this file: the script's directory is on sys.path)
import models  # noqa: E402
import ref_sampler as rs  # noqa: E402
import steer_ref as sr  # noqa: E402
import train as T  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
BUNDLE = os.path.join(REPO, "models", "pickplace_diffusion")
MS = 1_000_000  # nanoseconds
VALUE_HIDDEN = 256  # the value bundle's MLP width
SCORERS = ["plain", "coherence", "contrast", "past", "value", "all"]
# Scorer weights (coherence, contrast, past, value) and selection, as steerScorers in the
# Go benchmark.
CONFIGS = {
    "plain": ((0, 0, 0, 0), "argmax"),
    "coherence": ((1, 0, 0, 0), "argmax"),
    "contrast": ((0, 1, 0, 0), "argmax"),
    "past": ((0, 0, 1, 0), "argmax"),
    "value": ((0, 0, 0, 1), "argmax"),
    "all": ((1, 1, 1, 1), "softmax"),
}


def log(*a):
    print("steer_bench:", *a, file=sys.stderr, flush=True)


def inference():
    stack = contextlib.ExitStack()
    stack.enter_context(torch.no_grad())
    if hasattr(torch, "inference_mode"):
        stack.enter_context(torch.inference_mode())
    return stack


def load_onnx_weights(module, path, example, unused=()):
    """Copies the weights of the ONNX file at path into module (which example, a tuple of
    inputs, runs): each parameter whose name is an initializer of the same size, then the
    GroupNorm weights and biases, which torch.onnx.export (do_constant_folding) leaves as
    the unnamed [C, 1] constants of a Mul and an Add after each InstanceNormalization, in
    graph order = execution order. Everything but the parameters under the prefixes in
    unused (training-only heads the export leaves out) must be assigned; those keep their
    random values."""
    import onnx
    from onnx import numpy_helper
    g = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in g.graph.initializer}
    sd = module.state_dict()
    new, missing = {}, []
    for k, v in sd.items():
        if k in inits and inits[k].size == v.numel():
            new[k] = torch.from_numpy(inits[k].copy()).reshape(v.shape)
        else:
            missing.append(k)
    order = []
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: order.append(name))
             for name, m in module.named_modules() if isinstance(m, nn.GroupNorm)]
    with inference():
        module(*example)
    for h in hooks:
        h.remove()
    # The Mul and Add constants that follow each InstanceNormalization (through a Reshape).
    consumers = {}
    for node in g.graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    affine = []
    for node in g.graph.node:
        if node.op_type != "InstanceNormalization":
            continue
        nxt = consumers[node.output[0]][0]  # Reshape back to [N, C, ...]
        mul = consumers[nxt.output[0]][0]
        add = consumers[mul.output[0]][0]
        assert mul.op_type == "Mul" and add.op_type == "Add", (nxt.op_type, mul.op_type, add.op_type)
        affine.append(([i for i in mul.input if i in inits][0], [i for i in add.input if i in inits][0]))
    assert len(affine) == len(order), (path, len(affine), len(order))
    for name, (w, b) in zip(order, affine):
        for suffix, init in (("weight", w), ("bias", b)):
            k = f"{name}.{suffix}"
            new[k] = torch.from_numpy(inits[init].copy()).reshape(sd[k].shape)
            missing.remove(k)
    missing = [k for k in missing if not k.startswith(tuple(unused))]
    assert not missing, (path, missing)
    module.load_state_dict(new, strict=False)
    return module


class Reference:
    """The reference diffusion policy in torch eager: the bundle's stats and config, the
    networks with the bundle's weights."""

    def __init__(self, bundle_dir):
        self.dir = bundle_dir
        with open(os.path.join(bundle_dir, "stats.json")) as f:
            self.stats = json.load(f)
        self.norm = T.Normalizer(self.stats)
        self.cfg = T.diffusion_config("sample")
        self.S, self.A = len(self.stats[T.STATE]["min"]), len(self.stats[T.ACTION]["min"])
        self.H, self.n_obs = T.HORIZON, T.n_obs_of("diffusion")
        self.start = self.n_obs - 1
        with open(os.path.join(bundle_dir, "policy.yaml")) as f:
            self.n_action_steps = int(next(ln.split(":")[1] for ln in f if ln.startswith("n_action_steps:")))
        torch.manual_seed(0)
        self.model = T.build_model("diffusion", self.S, self.A).eval()
        ex = self.example(1)
        enc, den = self.model.encoder, self.model.denoiser
        load_onnx_weights(enc, os.path.join(bundle_dir, "encoder.onnx"), self.normalized(ex), unused=("aux.",))
        with inference():
            cond = enc(*self.normalized(ex))
        load_onnx_weights(den, os.path.join(bundle_dir, "denoiser.onnx"),
                          (torch.zeros(1, self.H, self.A), torch.zeros(1, dtype=torch.int64), cond))

    def example(self, seed):
        """A raw observation history: images in [0, 1] [n_obs, 3, 96, 96], state [n_obs, S]."""
        g = torch.Generator().manual_seed(seed)
        raw = {k: torch.rand(self.n_obs, 3, 96, 96, generator=g) for k in T.CAMERAS}
        lo, hi = self.norm.smin, self.norm.smax
        raw[T.STATE] = lo + (hi - lo) * torch.rand(self.n_obs, self.S, generator=g)
        return raw

    def normalized(self, raw):
        """(scene, wrist, state) normalized with a batch axis of 1."""
        imgs = [self.norm.image(k, raw[k])[None] for k in T.CAMERAS]
        return imgs[0], imgs[1], self.norm.state(raw[T.STATE])[None]

    def sample(self, raw, noise):
        """Normalized samples [N, H, A] from the initial noise [N, H, A] (10 DDIM steps)."""
        cond = self.model.encoder(*self.normalized(raw))
        n = noise.shape[0]
        den = self.model.denoiser
        res = rs.sample_diffusion(lambda x, t: den(x, t, cond.expand(n, -1)), noise, self.cfg)
        return res["final"]

    def unnormalize(self, y):
        return rs.unnormalize(y, self.stats[T.ACTION], "min_max")


def build_value(ref, seed=18):
    """The benchmark's value model for the reference policy: Q(observation.state, the
    executed window [15, 10]), models.ValueMLP with seeded random weights (the same on
    every call)."""
    torch.manual_seed(seed)
    return models.ValueMLP(ref.S, ref.H - ref.start, ref.A, hidden=VALUE_HIDDEN).eval()


def write_value(out, ref):
    """Writes build_value's model as a value bundle into out, exported like every bundle
    model, normalized with the policy's statistics (no stats.json of its own)."""
    os.makedirs(out, exist_ok=True)
    model, steps = build_value(ref), ref.H - ref.start
    bundle.export(model, (torch.zeros(3, ref.S), torch.zeros(3, steps, ref.A)),
                  os.path.join(out, "value.onnx"), [T.STATE, "action"], ["value"])
    lines = ["# Benchmark value bundle (random weights) for models/pickplace_diffusion, by tools/train/steer_bench.py.",
             "kind: value", "model: value.onnx", f"horizon: {ref.H}", f"n_obs_steps: {ref.n_obs}",
             "action_span: chunk", "features:",
             f"  {T.STATE}: {{shape: [{ref.S}], normalization: min_max}}",
             f"  action:            {{shape: [{ref.A}], normalization: min_max}}",
             "output: value"]
    with open(os.path.join(out, "steer.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def check(ref, robotd):
    """Runs the same observation and noise through torch and `robotd policy run` and
    compares the normalized actions; exits 1 beyond 2e-3 (tools/train/parity.py's
    tolerance)."""
    tmp = tempfile.mkdtemp()
    raw = ref.example(3)
    np.savez(os.path.join(tmp, "obs.npz"), **{k: v.numpy() for k, v in raw.items()})
    noise = np.random.default_rng(3).standard_normal((1, ref.H, ref.A)).astype(np.float32)
    np.save(os.path.join(tmp, "noise.npy"), noise)
    out = os.path.join(tmp, "act.npz")
    subprocess.run(robotd.split() + ["policy", "run", "--bundle", ref.dir, "--inputs",
                                     os.path.join(tmp, "obs.npz"), "--noise",
                                     os.path.join(tmp, "noise.npy"), "--out", out],
                   check=True, stdout=subprocess.DEVNULL)
    got = np.load(out)["action.normalized"].reshape(-1, ref.H, ref.A)[0]
    with inference():
        want = ref.sample(raw, torch.from_numpy(noise))[0]
    d = float(np.abs(got - want).max())
    log(f"check: max |robotd - torch| of normalized actions {d:.2e} (tolerance 2e-3)")
    sys.exit(0 if d <= 2e-3 else 1)


class Step:
    """One steered step's fixed inputs (plan, history, weak stand-in, value model) and the
    step itself, as the Go benchmark sets them up."""

    def __init__(self, ref, value):
        self.ref, self.value = ref, value
        self.raw = ref.example(7)
        self.dt, self.t0 = 100 * MS, 10_000 * MS
        H, A, start = ref.H, ref.A, ref.start
        r = np.random.default_rng(7)
        self.plan = 0.1 * r.standard_normal((H - start, A))
        self.plan_t0 = self.t0 - ref.n_action_steps * self.dt
        self.hist_t = np.array([self.t0 - (63 - k) * self.dt for k in range(64)], dtype=np.int64)
        self.hist_a = 0.1 * r.standard_normal((64, A))
        self.lower, self.upper = np.full(A, -np.inf), np.full(A, np.inf)
        # The value model's observation: the latest state, normalized with the policy's stats.
        self.vobs = ref.norm.state(self.raw[T.STATE][-1])[None]
        self.gen = np.random.default_rng(1)

    def candidates(self, n):
        noise = torch.randn(n, self.ref.H, self.ref.A)
        return self.ref.unnormalize(self.ref.sample(self.raw, noise))

    def run(self, n, scorer):
        ref = self.ref
        weights, mode = CONFIGS[scorer]
        cand = self.candidates(n)
        valid = sr.validity(cand, ref.start, self.lower, self.upper)
        zero = np.zeros(n)
        coh = con = pst = val = zero
        if weights[0]:
            coh = sr.coherence(cand, valid, ref.start, self.t0, self.dt, self.plan, self.plan_t0, 0.5)
        if weights[1]:
            weak = self.candidates(n)
            wv = sr.validity(weak, ref.start, self.lower, self.upper)
            con = sr.contrast(cand, valid, weak, wv, 0)
        if weights[2]:
            pst = sr.past(cand, valid, ref.start, self.t0, self.dt, self.hist_t, self.hist_a, 0)
        if weights[3]:
            act = ref.norm.action(torch.from_numpy(cand[:, ref.start:]))
            q = self.value(self.vobs.expand(n, -1), act).double().numpy()
            val = np.where(valid, q, 0.0)
        total = sr.combine(valid, weights, [coh, con, pst, val])
        return sr.select(total.tolist(), valid, mode, 1.0, float(self.gen.random()))[0]


def main():
    p = argparse.ArgumentParser(description="PyTorch eager peer of BenchmarkPolicyStep (policy/steer).")
    p.add_argument("--bundle", default=BUNDLE)
    p.add_argument("--write-value", metavar="DIR", help="write the value bundle into DIR and exit")
    p.add_argument("--check", metavar="ROBOTD", help="compare with `ROBOTD policy run` and exit")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=10, help="timed steps per configuration")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--n", type=int, nargs="*", default=[1, 4, 8, 16])
    p.add_argument("--scorers", nargs="*", default=SCORERS, choices=SCORERS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ref = Reference(args.bundle)
    if args.write_value:
        write_value(args.write_value, ref)
        log(f"value bundle written to {args.write_value}")
        return
    if args.check:
        check(ref, args.check)
    st = Step(ref, build_value(ref))  # the same weights as --write-value's
    with inference():
        for n in args.n:
            for scorer in args.scorers:
                for _ in range(args.warmup):
                    st.run(n, scorer)
                times = []
                for _ in range(args.reps):
                    t = time.perf_counter_ns()
                    st.run(n, scorer)
                    times.append(time.perf_counter_ns() - t)
                times.sort()
                q = lambda f: times[min(len(times) - 1, int(f * len(times)))] / 1e6  # noqa: E731
                print(f"N={n}/{scorer} {q(0.5):.3f} {q(0.99):.3f}", flush=True)


if __name__ == "__main__":
    main()
