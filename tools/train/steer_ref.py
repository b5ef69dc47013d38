"""Reference scorers and selection for robotd's steering stage (policy/steer): what the Go
package is tested against, on the same inputs, to 1e-5.

Run as a script it writes the fixtures the Go tests read:

    /usr/bin/python3 tools/train/steer_ref.py --out policy/steer/testdata

Each fixture is one .npz (case_*.npz) holding a step's inputs and the expected outputs.

Conventions (docs/steering.md has the formulas and their sources):
  * candidates are [N, H, A] float32 in dataset units; action h is due at
    t0 + (h - start) * dt (times are int64 nanoseconds);
  * every score is higher-is-better: a distance d is reported as -d; an invalid
    candidate scores 0 in every scorer and -inf in the combined score;
  * distances are Euclidean norms over an action's A values, computed in float64.

Written from Bidirectional Decoding's equations and reference code (Liu et al. 2024,
github.com/YuejiangLIU/bid_diffusion, diffusion_policy/sampler/{single,multi,metric}.py,
commit 59afcaa), re-derived rather than copied, with the deliberate differences the Go
doc comments list (contrast: each candidate's own K nearest weak samples; K >= 1; only
valid samples count). Past-token consistency follows Torne et al. 2025; softmax selection
follows V-GPS (Nakamoto et al. 2024).

This module has no side effects on import.
"""
import math

import numpy as np
import torch


# ----------------------------------------------------------------------------------------
# Validity: what chunk.Validate accepts (finite everywhere; the executed window
# [start, H) within [lower, upper], borders included; the predicted past finite only).
# ----------------------------------------------------------------------------------------

def validity(cand, start, lower, upper):
    """cand [N, H, A] float32; lower, upper [A] float64 (+-inf: unbounded) -> [N] bool."""
    x = torch.as_tensor(cand, dtype=torch.float64)
    finite = torch.isfinite(x).flatten(1).all(dim=1)
    win = x[:, start:]
    lo = torch.as_tensor(lower, dtype=torch.float64)
    hi = torch.as_tensor(upper, dtype=torch.float64)
    inside = ((win >= lo) & (win <= hi)).flatten(1).all(dim=1)
    return (finite & inside).numpy()


# ----------------------------------------------------------------------------------------
# Scorers
# ----------------------------------------------------------------------------------------

def round_div(a, b):
    """a / b rounded to the nearest integer, halves away from zero (b > 0)."""
    if a >= 0:
        return (a + b // 2) // b
    return -((-a + b // 2) // b)


def coherence(cand, valid, start, t0, dt, plan, plan_t0, beta):
    """BID backward: -sum_i w_i ||a_{start+k} - p_{off+k}||, w_i = beta^i / sum beta^j over
    the L overlapping actions (i = 0 at the first). plan [P, A] float64, action j due at
    plan_t0 + j*dt. No plan: zeros."""
    n, h, _ = cand.shape
    out = torch.zeros(n, dtype=torch.float64)
    if plan is None or plan.shape[0] == 0:
        return out.numpy()
    off = round_div(t0 - plan_t0, dt)
    k0 = max(0, -off)
    k1 = min(h - start, plan.shape[0] - off)
    if k1 <= k0:
        return out.numpy()
    L = k1 - k0
    w = torch.tensor([beta ** i for i in range(L)], dtype=torch.float64)
    w = w / w.sum()
    a = torch.as_tensor(cand, dtype=torch.float64)[:, start + k0:start + k1]  # [N, L, A]
    p = torch.as_tensor(plan, dtype=torch.float64)[off + k0:off + k1]  # [L, A]
    d = torch.linalg.norm(a - p.unsqueeze(0), dim=-1)  # [N, L]
    out = -(d * w.unsqueeze(0)).sum(dim=1)
    out[~torch.as_tensor(valid)] = 0
    return out.numpy()


def chunk_dist(x, y):
    """Pairwise mean-over-horizon distance: x [N, H, A], y [M, H, A] -> [N, M]
    (BID's euclidean_distance with reduction 'mean')."""
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    return torch.linalg.norm(x.unsqueeze(1) - y.unsqueeze(0), dim=-1).mean(dim=-1)


def mean_smallest(row, k):
    k = min(k, row.numel())
    if k == 0:
        return 0.0
    return torch.topk(row, k, largest=False).values.mean().item()


def contrast(cand, valid, weak, weak_valid, k):
    """BID forward: mean of the K nearest weak samples' distances minus mean of the K
    nearest other strong candidates' distances, each candidate against its own
    neighbours; K = 0 means max(1, N // 3)."""
    n = cand.shape[0]
    if k == 0:
        k = max(1, n // 3)
    valid = torch.as_tensor(valid)
    out = torch.zeros(n, dtype=torch.float64)
    dpos = chunk_dist(np.nan_to_num(cand), np.nan_to_num(cand))
    has_weak = weak is not None and weak.shape[0] > 0
    if has_weak:
        dneg = chunk_dist(np.nan_to_num(cand), np.nan_to_num(weak))
        wv = torch.as_tensor(weak_valid)
    for i in range(n):
        if not valid[i]:
            continue
        others = valid.clone()
        others[i] = False
        pos = mean_smallest(dpos[i][others], k)
        neg = mean_smallest(dneg[i][wv], k) if has_weak else 0.0
        out[i] = neg - pos
    return out.numpy()


def near(hist_t, hist_a, t, tol):
    """The executed action nearest t within tol (ties: the later entry), or None.
    hist_t is oldest first."""
    best, best_d = None, tol
    for j in range(len(hist_t)):
        d = abs(int(hist_t[j]) - t)
        if d <= best_d:
            best, best_d = j, d
    return None if best is None else hist_a[best]


def past(cand, valid, start, t0, dt, hist_t, hist_a, steps):
    """Past-token consistency: -mean over the predicted past actions [start-steps, start)
    that have an executed action within dt/2 of their due time of ||a_h - e_h||."""
    n = cand.shape[0]
    out = torch.zeros(n, dtype=torch.float64)
    if hist_t is None or len(hist_t) == 0 or start == 0:
        return out.numpy()
    first = max(0, start - steps) if steps > 0 else 0
    x = torch.as_tensor(cand, dtype=torch.float64)
    matched = 0
    for p in range(first, start):
        e = near(hist_t, hist_a, t0 + (p - start) * dt, dt // 2)
        if e is None:
            continue
        matched += 1
        out -= torch.linalg.norm(x[:, p] - torch.as_tensor(e, dtype=torch.float64), dim=-1)
    if matched > 0:
        out /= matched
    out[~torch.as_tensor(valid)] = 0
    return out.numpy()


def combine(valid, weights, scores):
    """sum_s weight_s * score_s; -inf for an invalid candidate."""
    total = np.zeros(len(valid), dtype=np.float64)
    for w, s in zip(weights, scores):
        if w != 0:
            total += w * s
    total[~np.asarray(valid)] = -np.inf
    return total


# ----------------------------------------------------------------------------------------
# Selection
# ----------------------------------------------------------------------------------------

def select(scores, valid, mode, temperature, u):
    """argmax (lowest index on a tie) or softmax sampling by the uniform u in [0, 1): the
    first eligible candidate whose cumulative probability exceeds u. Eligible: valid with a
    finite score. Returns (index or -1, probabilities)."""
    n = len(scores)
    probs = [0.0] * n
    elig = [bool(valid[i]) and math.isfinite(scores[i]) for i in range(n)]
    best = -1
    for i in range(n):
        if elig[i] and (best < 0 or scores[i] > scores[best]):
            best = i
    if best < 0:
        return -1, np.array(probs)
    if mode == "argmax":
        probs[best] = 1.0
        return best, np.array(probs)
    e = torch.tensor([math.exp((scores[i] - scores[best]) / temperature) if elig[i] else 0.0
                      for i in range(n)], dtype=torch.float64)
    p = (e / e.sum()).tolist()
    chosen, cum = -1, 0.0
    for i in range(n):
        if p[i] > 0:
            cum += p[i]
            if chosen < 0 and cum > u:
                chosen = i
    if chosen < 0:
        chosen = max(i for i in range(n) if p[i] > 0)
    return chosen, np.array(p)


# ----------------------------------------------------------------------------------------
# Fixture generation (only under __main__)
# ----------------------------------------------------------------------------------------

MS = 1_000_000  # nanoseconds


def make_case(seed, n, h, a, start, m, plan_off, plan_len, hist, beta, k, steps, weights,
              mode, temperature, spoil=()):
    """One step's inputs and expected outputs. Candidates are noisy variants of two
    trajectories (two modes, as a multimodal policy samples); the weak samples sit near
    the second mode; the plan is the first mode, shifted by plan_off actions; the history
    holds the first mode's past with noise, at the due times listed in hist (offsets in
    actions relative to t0, with jitter)."""
    g = torch.Generator().manual_seed(seed)
    dt = 100 * MS
    t0 = 5_000 * MS + seed * dt
    base = torch.cumsum(torch.randn(2, h + 8, a, generator=g, dtype=torch.float64) * 0.05, dim=1)
    mode_of = torch.randint(0, 2, (n,), generator=g)
    cand = base[mode_of, 4:4 + h] + 0.02 * torch.randn(n, h, a, generator=g, dtype=torch.float64)
    cand = cand.float().numpy()
    lower = np.full(a, -np.inf)
    upper = np.full(a, np.inf)
    lower[0], upper[0] = -5.0, 5.0
    for kind, i, hh, d in spoil:
        if kind == "nan":
            cand[i, hh, d] = np.nan
        elif kind == "inf":
            cand[i, hh, d] = np.inf
        elif kind == "high":
            cand[i, hh, 0] = 6.0
    weak = None
    if m > 0:
        weak = (base[1, 4:4 + h] + 0.03 * torch.randn(m, h, a, generator=g, dtype=torch.float64)).float().numpy()
    plan = np.zeros((0, a))
    plan_t0 = t0
    if plan_len > 0:
        # plan action j is due at t0 - plan_off*dt + j*dt: the first mode from index start - plan_off.
        src = base[0, 4:4 + h + 8]
        plan = np.stack([src[min(start - plan_off + j, h + 3)].numpy() if start - plan_off + j >= 0
                         else src[0].numpy() for j in range(plan_len)])
        plan = plan + 0.005 * np.random.default_rng(seed).standard_normal(plan.shape)
        plan_t0 = t0 - plan_off * dt
    hist_t = np.array([t0 + o * dt + j for o, j in hist], dtype=np.int64)
    hist_a = np.zeros((len(hist), a))
    for q, (o, _) in enumerate(hist):
        idx = min(max(start + o, 0), h - 1)
        hist_a[q] = base[0, 4 + idx].numpy() + 0.01 * np.random.default_rng(seed + q).standard_normal(a)
    valid = validity(cand, start, lower, upper)
    wv = validity(weak, 0, np.full(a, -np.inf), np.full(a, np.inf)) if weak is not None else np.zeros(0, bool)
    coh = coherence(cand, valid, start, t0, dt, plan, plan_t0, beta)
    con = contrast(cand, valid, weak, wv, k)
    pst = past(cand, valid, start, t0, dt, hist_t, hist_a, steps)
    total = combine(valid, weights, [coh, con, pst])
    u = float(np.random.default_rng(seed + 77).random())
    choice, probs = select(total.tolist(), valid, mode, temperature, u)
    return dict(
        cand=cand, start=np.int64(start), t0=np.int64(t0), dt=np.int64(dt),
        lower=lower, upper=upper,
        weak=weak if weak is not None else np.zeros((0, h, a), np.float32),
        plan=plan, plan_t0=np.int64(plan_t0),
        hist_t=hist_t, hist_a=hist_a,
        beta=np.float64(beta), k=np.int64(k), steps=np.int64(steps),
        weights=np.array(weights, dtype=np.float64),
        softmax=np.bool_(mode == "softmax"), temperature=np.float64(temperature), u=np.float64(u),
        valid=valid, coherence=coh, contrast=con, past=pst, total=total,
        probs=probs, choice=np.int64(choice),
    )


CASES = {
    # name: make_case arguments
    "basic": dict(seed=1, n=8, h=16, a=7, start=1, m=8, plan_off=3, plan_len=12,
                  hist=[(-2, 0), (-1, 3 * MS), (0, 0)], beta=0.5, k=0, steps=0,
                  weights=[1.0, 1.0, 1.0], mode="softmax", temperature=0.05),
    "invalid": dict(seed=2, n=6, h=10, a=4, start=2, m=5, plan_off=2, plan_len=6,
                    hist=[(-2, -20 * MS), (-1, 10 * MS)], beta=0.9, k=2, steps=0,
                    weights=[2.0, 0.5, 1.0], mode="argmax", temperature=1.0,
                    spoil=[("nan", 1, 5, 2), ("high", 3, 7, 0), ("inf", 4, 0, 1)]),
    "nopast_noweak": dict(seed=3, n=3, h=8, a=3, start=0, m=0, plan_off=1, plan_len=8,
                          hist=[], beta=1.0, k=2, steps=0,
                          weights=[1.0, 1.0, 0.0], mode="softmax", temperature=0.01),
    "late_plan": dict(seed=4, n=16, h=16, a=7, start=2, m=12, plan_off=-3, plan_len=10,
                      hist=[(-4, 0), (-1, 40 * MS), (-2, 70 * MS)], beta=0.7, k=4, steps=1,
                      weights=[0.3, 1.0, 2.0], mode="softmax", temperature=0.2),
    "single": dict(seed=5, n=1, h=6, a=2, start=1, m=3, plan_off=0, plan_len=0,
                   hist=[(-1, 0)], beta=0.5, k=0, steps=0,
                   weights=[1.0, 1.0, 1.0], mode="argmax", temperature=1.0),
    "all_invalid": dict(seed=6, n=2, h=5, a=2, start=1, m=2, plan_off=1, plan_len=4,
                        hist=[(-1, 0)], beta=0.5, k=0, steps=0,
                        weights=[1.0, 1.0, 1.0], mode="softmax", temperature=1.0,
                        spoil=[("nan", 0, 3, 1), ("high", 1, 4, 0)]),
}


# ----------------------------------------------------------------------------------------
# PyTorch eager peer for BenchmarkStep (only under --bench)
# ----------------------------------------------------------------------------------------

def eager_step(cand, plan, w_plan, weak, k, past_exec, weights):
    """All three scorers and an argmax the way BID's samplers run them in PyTorch eager:
    batched tensors, no Python loop over candidates. cand [N, H, A], plan [L, A] already
    aligned with cand[:, start:start+L], w_plan [L] normalised, weak [M, H, A],
    past_exec [P, A] aligned with cand[:, :P]; everything valid. Returns (index, total)."""
    coh = -(torch.linalg.norm(cand[:, 1:1 + plan.shape[0]] - plan, dim=-1) * w_plan).sum(dim=1)
    n = cand.shape[0]
    if n > 1:
        dpos = torch.linalg.norm(cand.unsqueeze(1) - cand.unsqueeze(0), dim=-1).mean(dim=-1)
        pos = torch.topk(dpos, min(k, n - 1) + 1, largest=False, dim=-1).values[:, 1:].mean(dim=-1)
    else:
        pos = torch.zeros(1, dtype=cand.dtype)  # no other strong sample
    dneg = torch.linalg.norm(cand.unsqueeze(1) - weak.unsqueeze(0), dim=-1).mean(dim=-1)
    neg = torch.topk(dneg, k, largest=False, dim=-1).values.mean(dim=-1)
    pst = -torch.linalg.norm(cand[:, :past_exec.shape[0]] - past_exec, dim=-1).mean(dim=1)
    total = weights[0] * coh + weights[1] * (neg - pos) + weights[2] * pst
    return int(total.argmax()), total


def bench(reps=2000):
    """Times eager_step at the shapes of BenchmarkStep (H 16, A 10, start 1, plan 7 actions
    overlapping, weak samples as many as candidates), one torch thread, median of reps."""
    import time
    torch.set_num_threads(1)
    # The peer computes what the reference does (all valid, plan and history aligned).
    c = make_case(**CASES["basic"])
    x = torch.as_tensor(c["cand"], dtype=torch.float64)
    start, off, L = int(c["start"]), 3, 12 - 3
    wp = torch.tensor([0.5 ** i for i in range(L)], dtype=torch.float64)
    _, total = eager_step(x, torch.as_tensor(c["plan"][off:off + L]), wp / wp.sum(),
                          torch.as_tensor(c["weak"], dtype=torch.float64), max(1, x.shape[0] // 3),
                          torch.as_tensor(np.stack([c["hist_a"][1]])), c["weights"])
    assert np.allclose(total.numpy(), c["total"], atol=1e-9), (total, c["total"])
    h, a = 16, 10
    for n in (1, 4, 8, 16):
        g = torch.Generator().manual_seed(n)
        cand = torch.randn(n, h, a, generator=g) * 0.2
        weak = torch.randn(n, h, a, generator=g) * 0.3
        plan = torch.zeros(7, a)
        w = torch.tensor([0.5 ** i for i in range(7)])
        w = w / w.sum()
        past_exec = torch.zeros(1, a)
        k = max(1, n // 3)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            eager_step(cand, plan, w, weak, k, past_exec, (1.0, 1.0, 1.0))
            times.append(time.perf_counter() - t)
        times.sort()
        print(f"N={n} all: {times[len(times) // 2] * 1e6:.1f} us/step (PyTorch {torch.__version__} eager, 1 thread)")


def main():
    import argparse
    import os
    p = argparse.ArgumentParser(description="Writes policy/steer/testdata/case_*.npz; --bench times the eager peer.")
    p.add_argument("--out", default="policy/steer/testdata")
    p.add_argument("--bench", action="store_true", help="time eager_step instead of writing fixtures")
    args = p.parse_args()
    if args.bench:
        bench()
        return
    os.makedirs(args.out, exist_ok=True)
    for name, kw in CASES.items():
        case = make_case(**kw)
        path = os.path.join(args.out, f"case_{name}.npz")
        np.savez(path, **case)
        print(f"{path}: valid {case['valid'].astype(int).tolist()} choice {int(case['choice'])}")


if __name__ == "__main__":
    main()
