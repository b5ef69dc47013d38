"""Reference samplers, noise schedules and normalisation: what robotd's Go runtime is
tested against (policy/testdata/gen_fixtures.py computes the fixtures' sampling runs with
it), and the forward process tools/train/train.py trains the reference diffusion policy
with, so the network learns the process robotd's sampler inverts.

Written from the equations in huggingface/diffusers (checked against commit
58eb52c0803ea9af3abec60841c2a093bdf1f951):

  src/diffusers/schedulers/scheduling_ddim.py
    betas_for_alpha_bar                      lines 51-100 (cosine alpha_bar, max_beta 0.999,
                                             python floats, then a float32 tensor)
    __init__ (betas, alphas_cumprod, final)   lines 213-236
    set_timesteps ("leading")                 lines 364-370
    step                                      lines 445-500
  src/diffusers/schedulers/scheduling_ddpm.py
    __init__                                  lines 212-253
    set_timesteps ("leading")                 lines 329-334
    _get_variance ("fixed_small")             lines 379-399
    step                                      lines 489-559
    previous_timestep                         lines 648-668

Everything a scheduler computes is done the way diffusers does it: float32 torch tensors
for betas / alphas / alphas_cumprod (torch.cumprod), scalar float32 tensors for the per-step
coefficients, and the sample kept in float32. No code was copied; this is an independent
implementation for the parity fixtures (the Go runtime implements the same equations).

This module has no side effects on import.
"""
import math

import numpy as np
import torch

EPS = 1e-8  # normalisation epsilon (docs/policy-bundle.md)


# ----------------------------------------------------------------------------------------
# Normalisation (float32 throughout: stats are cast to float32, EPS is added in float32).
# ----------------------------------------------------------------------------------------

def _f32(a):
    return np.asarray(a, dtype=np.float32)


def normalize(x, stats, mode):
    """Forward normalisation as in docs/policy-bundle.md.

    mean_std: (x - mean) / (std + 1e-8)
    min_max:  (x - min) / (max - min + 1e-8) * 2 - 1
    identity: x
    Stats broadcast against the trailing dims of x (e.g. [3,1,1] against [..., 3, H, W]).
    """
    x = _f32(x)
    eps = np.float32(EPS)
    if mode == "mean_std":
        return ((x - _f32(stats["mean"])) / (_f32(stats["std"]) + eps)).astype(np.float32)
    if mode == "min_max":
        lo, hi = _f32(stats["min"]), _f32(stats["max"])
        return ((x - lo) / (hi - lo + eps) * np.float32(2) - np.float32(1)).astype(np.float32)
    if mode == "identity":
        return x.copy()
    raise ValueError(mode)


def unnormalize(y, stats, mode):
    """Exact inverse of normalize() (eps kept):

    mean_std: x = y * (std + 1e-8) + mean
    min_max:  x = (y + 1) / 2 * (max - min + 1e-8) + min
    (LeRobot's Unnormalize drops the eps; in float32 the difference is at most one ulp.)
    """
    y = _f32(y)
    eps = np.float32(EPS)
    if mode == "mean_std":
        return (y * (_f32(stats["std"]) + eps) + _f32(stats["mean"])).astype(np.float32)
    if mode == "min_max":
        lo, hi = _f32(stats["min"]), _f32(stats["max"])
        return ((y + np.float32(1)) / np.float32(2) * (hi - lo + eps) + lo).astype(np.float32)
    if mode == "identity":
        return y.copy()
    raise ValueError(mode)


# ----------------------------------------------------------------------------------------
# Noise schedule
# ----------------------------------------------------------------------------------------

def cosine_betas(num_train_timesteps, max_beta=0.999):
    """squaredcos_cap_v2: beta_i = min(1 - abar((i+1)/T) / abar(i/T), max_beta) with
    abar(t) = cos((t + 0.008) / 1.008 * pi / 2)^2, evaluated in float64 python math and then
    stored as float32 (diffusers builds a python list and calls torch.tensor(..., float32))."""
    def abar(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    out = []
    for i in range(num_train_timesteps):
        t1 = i / num_train_timesteps
        t2 = (i + 1) / num_train_timesteps
        out.append(min(1 - abar(t2) / abar(t1), max_beta))
    return torch.tensor(out, dtype=torch.float32)


class Schedule:
    """betas, alphas_cumprod (float32, torch.cumprod) and final_alpha_cumprod."""

    def __init__(self, num_train_timesteps=100, beta_schedule="squaredcos_cap_v2",
                 beta_start=0.0001, beta_end=0.02, set_alpha_to_one=True, **_):
        T = int(num_train_timesteps)
        if beta_schedule == "linear":
            betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float32)
        elif beta_schedule == "scaled_linear":
            betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=torch.float32) ** 2
        elif beta_schedule == "squaredcos_cap_v2":
            betas = cosine_betas(T)
        else:
            raise ValueError(beta_schedule)
        self.num_train_timesteps = T
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        # DDIM only: alpha_prod of "the step after the last one".
        self.final_alpha_cumprod = (torch.tensor(1.0) if set_alpha_to_one
                                    else self.alphas_cumprod[0])
        # DDPM always uses 1.0 there, whatever set_alpha_to_one says.
        self.one = torch.tensor(1.0)


def leading_timesteps(num_train_timesteps, num_inference_steps, steps_offset=0):
    """timestep_spacing "leading": ratio = T // n; [0, ratio, ..., (n-1)*ratio] reversed,
    plus steps_offset. int64."""
    if num_inference_steps > num_train_timesteps:
        raise ValueError("num_inference_steps > num_train_timesteps")
    ratio = num_train_timesteps // num_inference_steps
    ts = (np.arange(0, num_inference_steps) * ratio).round()[::-1].copy().astype(np.int64)
    ts += steps_offset
    return ts


def _x0_eps(prediction_type, model_output, sample, a_t, b_t):
    if prediction_type == "epsilon":
        x0 = (sample - b_t ** 0.5 * model_output) / a_t ** 0.5
        eps = model_output
    elif prediction_type == "sample":
        x0 = model_output
        eps = (sample - a_t ** 0.5 * x0) / b_t ** 0.5
    elif prediction_type == "v_prediction":
        x0 = a_t ** 0.5 * sample - b_t ** 0.5 * model_output
        eps = a_t ** 0.5 * model_output + b_t ** 0.5 * sample
    else:
        raise ValueError(prediction_type)
    return x0, eps


def ddim_step(sched, cfg, model_output, t, sample, num_inference_steps, variance_noise=None):
    """One DDIM step (diffusers DDIMScheduler.step, use_clipped_model_output=False,
    thresholding=False). t is a python int. Returns (prev_sample, pred_original_sample)."""
    T = sched.num_train_timesteps
    prev_t = t - T // num_inference_steps  # NOT the next entry of the timestep list
    a_t = sched.alphas_cumprod[t]
    a_prev = sched.alphas_cumprod[prev_t] if prev_t >= 0 else sched.final_alpha_cumprod
    b_t = 1 - a_t
    x0, eps = _x0_eps(cfg["prediction_type"], model_output, sample, a_t, b_t)
    if cfg.get("clip_sample", True):
        r = cfg.get("clip_sample_range", 1.0)
        x0 = x0.clamp(-r, r)
    eta = float(cfg.get("eta", 0.0))
    b_prev = 1 - a_prev
    variance = (b_prev / b_t) * (1 - a_t / a_prev)
    std = eta * variance ** 0.5
    direction = (1 - a_prev - std ** 2) ** 0.5 * eps
    prev = a_prev ** 0.5 * x0 + direction
    if eta > 0:
        if variance_noise is None:
            raise ValueError("eta > 0 needs variance_noise")
        prev = prev + std * variance_noise
    return prev, x0


def ddpm_step(sched, cfg, model_output, t, prev_t, sample, variance_noise=None):
    """One DDPM step (diffusers DDPMScheduler.step, variance_type fixed_small).
    prev_t is the next entry of the timestep list, or -1 after the last one.
    Noise is added only when t > 0. Returns (prev_sample, pred_original_sample)."""
    a_t = sched.alphas_cumprod[t]
    a_prev = sched.alphas_cumprod[prev_t] if prev_t >= 0 else sched.one
    b_t = 1 - a_t
    b_prev = 1 - a_prev
    cur_alpha = a_t / a_prev
    cur_beta = 1 - cur_alpha
    x0, _ = _x0_eps(cfg["prediction_type"], model_output, sample, a_t, b_t)
    if cfg.get("clip_sample", True):
        r = cfg.get("clip_sample_range", 1.0)
        x0 = x0.clamp(-r, r)
    c_x0 = (a_prev ** 0.5 * cur_beta) / b_t
    c_xt = cur_alpha ** 0.5 * b_prev / b_t
    prev = c_x0 * x0 + c_xt * sample
    if t > 0:
        variance = (1 - a_prev) / (1 - a_t) * cur_beta
        variance = torch.clamp(variance, min=1e-20)
        prev = prev + variance ** 0.5 * variance_noise
    return prev, x0


# ----------------------------------------------------------------------------------------
# Full sampling loops
# ----------------------------------------------------------------------------------------

def _as_t(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float32))


def _inpaint(sample, prefix, start):
    if prefix is None:
        return sample
    sample = sample.clone()
    sample[:, start:start + prefix.shape[1], :] = prefix
    return sample


def sample_diffusion(denoise, noise, cfg, sampler=None, step_noise=None, prefix=None, prefix_start=0):
    """Runs the reverse process.

    denoise(sample [B,H,A] float32 tensor, timestep [B] int64 tensor) -> model output tensor.
    noise: [B,H,A] initial sample. cfg: the policy.yaml diffusion section.
    step_noise: [K,B,H,A] per-step variance noise (DDPM, or DDIM with eta > 0).
    prefix: optional [B,P,A] normalised actions; sample[:, s:s+P] = prefix (s = prefix_start)
      before every model call and once after the last step (Diffusion Policy's
      condition_mask inpainting; robotd freezes from s = n_obs_steps - 1, the first action
      it executes).

    Returns dict: timesteps (int64 [K]), trajectory ([K+1,B,H,A]: the model input of every
    step, then the final sample), final ([B,H,A]).
    """
    sampler = sampler or cfg["sampler"]
    sched = Schedule(**cfg)
    n = int(cfg["num_inference_steps"])
    ts = leading_timesteps(sched.num_train_timesteps, n, int(cfg.get("steps_offset", 0)))
    x = _as_t(noise)
    pre = None if prefix is None else _as_t(prefix)
    traj = []
    for k, t in enumerate(ts):
        x = _inpaint(x, pre, prefix_start)
        traj.append(x.numpy().copy())
        tt = torch.full((x.shape[0],), int(t), dtype=torch.int64)
        out = denoise(x, tt)
        vn = None if step_noise is None else _as_t(step_noise[k])
        if sampler == "ddim":
            x, _ = ddim_step(sched, cfg, out, int(t), x, n, variance_noise=vn)
        elif sampler == "ddpm":
            prev_t = int(ts[k + 1]) if k + 1 < len(ts) else -1
            x, _ = ddpm_step(sched, cfg, out, int(t), prev_t, x, variance_noise=vn)
        else:
            raise ValueError(sampler)
    x = _inpaint(x, pre, prefix_start)
    traj.append(x.numpy().copy())
    return {"timesteps": ts, "trajectory": np.stack(traj).astype(np.float32),
            "final": x.numpy().astype(np.float32)}


def sample_euler(velocity, noise, num_inference_steps):
    """Flow matching, x_t = (1 - t) * noise + t * action, v = action - noise.
    Euler from t = 0 to 1: for k in 0..K-1: t_k = float32(k / K), x += float32(1 / K) * v(x, t_k).
    velocity(sample [B,H,A], t [B] float32) -> [B,H,A]."""
    K = int(num_inference_steps)
    dt = torch.tensor(1.0 / K, dtype=torch.float32)
    x = _as_t(noise)
    traj = [x.numpy().copy()]
    ts = np.array([k / K for k in range(K)], dtype=np.float32)
    for k in range(K):
        tt = torch.full((x.shape[0],), float(ts[k]), dtype=torch.float32)
        x = x + dt * velocity(x, tt)
        traj.append(x.numpy().copy())
    return {"timesteps": ts, "trajectory": np.stack(traj).astype(np.float32),
            "final": x.numpy().astype(np.float32)}
