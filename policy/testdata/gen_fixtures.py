#!/usr/bin/env python3
"""Generates robotd's policy test bundles (policy/testdata/{unet,act,flow}) and their parity
data. Deterministic: fixed torch and numpy seeds, one CPU thread. Re-run with

    /usr/bin/python3 policy/testdata/gen_fixtures.py

(Debian's python3 with torch 1.13, onnx 1.12 and numpy). Importing this module has no side
effects: tools/bench/policy_torch.py imports the model builders from here, and the builders
seed torch themselves, so both get the same weights as the exported ONNX files.

See README.md in this directory for the file list and the equations.
"""
import sys

if __name__ == "__main__":
    sys.dont_write_bytecode = True  # keep policy/testdata free of __pycache__

import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import ref_sampler as rs  # noqa: E402

OPSET = 17

# ----------------------------------------------------------------------------------------
# Bundle configurations (written verbatim to policy.yaml)
# ----------------------------------------------------------------------------------------

UNET_DIFFUSION = {
    "num_train_timesteps": 100,
    "beta_schedule": "squaredcos_cap_v2",
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "prediction_type": "epsilon",
    "sampler": "ddim",
    "num_inference_steps": 10,
    "clip_sample": True,
    "clip_sample_range": 1.0,
    "set_alpha_to_one": True,
    "steps_offset": 0,
    "eta": 0.0,
}

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
# Building blocks
# ----------------------------------------------------------------------------------------

class SinusoidalPosEmb(nn.Module):
    """Diffusion Policy's timestep embedding: [sin(t*f), cos(t*f)], f = 10000^(-i/(d/2-1))."""

    def __init__(self, dim, scale=1.0):
        super().__init__()
        self.dim = dim
        self.scale = scale
        half = dim // 2
        freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000) / (half - 1)))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t):
        x = t.to(torch.float32) * self.scale
        e = x[:, None] * self.freqs[None, :]
        return torch.cat((e.sin(), e.cos()), dim=-1)


class Conv1dBlock(nn.Module):
    """Conv1d -> GroupNorm -> Mish."""

    def __init__(self, cin, cout, k, n_groups=8):
        super().__init__()
        self.block = nn.Sequential(nn.Conv1d(cin, cout, k, padding=k // 2),
                                   nn.GroupNorm(n_groups, cout), nn.Mish())

    def forward(self, x):
        return self.block(x)


class ConditionalResidualBlock1D(nn.Module):
    """Two Conv1dBlocks with FiLM (per-channel scale and bias from cond) after the first,
    plus a 1x1 residual conv when the channel count changes (cond_predict_scale=True)."""

    def __init__(self, cin, cout, cond_dim, k, n_groups):
        super().__init__()
        self.blocks = nn.ModuleList([Conv1dBlock(cin, cout, k, n_groups),
                                     Conv1dBlock(cout, cout, k, n_groups)])
        self.cout = cout
        self.cond_encoder = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * cout))
        self.residual_conv = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, cond):
        out = self.blocks[0](x)
        emb = self.cond_encoder(cond).reshape(-1, 2, self.cout, 1)
        out = emb[:, 0] * out + emb[:, 1]
        out = self.blocks[1](out)
        return out + self.residual_conv(x)


class ConditionalUnet1D(nn.Module):
    """Diffusion Policy's ConditionalUnet1D (global conditioning only).
    forward(sample [B,H,A], timestep [B] int64, global_cond [B,C]) -> [B,H,A]."""

    def __init__(self, input_dim, global_cond_dim, step_embed=32, down_dims=(16, 32, 64),
                 kernel_size=5, n_groups=8):
        super().__init__()
        dims = [input_dim] + list(down_dims)
        in_out = list(zip(dims[:-1], dims[1:]))
        self.diffusion_step_encoder = nn.Sequential(
            SinusoidalPosEmb(step_embed), nn.Linear(step_embed, step_embed * 4), nn.Mish(),
            nn.Linear(step_embed * 4, step_embed))
        cond_dim = step_embed + global_cond_dim

        def block(a, b):
            return ConditionalResidualBlock1D(a, b, cond_dim, kernel_size, n_groups)

        self.down_modules = nn.ModuleList()
        for i, (a, b) in enumerate(in_out):
            last = i == len(in_out) - 1
            self.down_modules.append(nn.ModuleList([
                block(a, b), block(b, b),
                nn.Conv1d(b, b, 3, 2, 1) if not last else nn.Identity()]))  # Downsample1d
        mid = dims[-1]
        self.mid_modules = nn.ModuleList([block(mid, mid), block(mid, mid)])
        self.up_modules = nn.ModuleList()
        for a, b in reversed(in_out[1:]):
            self.up_modules.append(nn.ModuleList([
                block(b * 2, a), block(a, a),
                nn.ConvTranspose1d(a, a, 4, 2, 1)]))  # Upsample1d
        start = down_dims[0]
        self.final_conv = nn.Sequential(Conv1dBlock(start, start, kernel_size, n_groups),
                                        nn.Conv1d(start, input_dim, 1))

    def forward(self, sample, timestep, global_cond):
        x = sample.transpose(1, 2)  # [B,A,H]
        cond = torch.cat([self.diffusion_step_encoder(timestep), global_cond], dim=-1)
        skips = []
        for res1, res2, down in self.down_modules:
            x = res2(res1(x, cond), cond)
            skips.append(x)
            x = down(x)
        for m in self.mid_modules:
            x = m(x, cond)
        for res1, res2, up in self.up_modules:
            x = torch.cat((x, skips.pop()), dim=1)
            x = up(res2(res1(x, cond), cond))
        return self.final_conv(x).transpose(1, 2)


class SpatialSoftmax(nn.Module):
    """Keypoints: 1x1 conv to K maps, softmax over H*W, expected (x, y) in [-1, 1] -> [N, 2K]."""

    def __init__(self, cin, h, w, num_kp):
        super().__init__()
        self.kp = nn.Conv2d(cin, num_kp, 1)
        self.num_kp = num_kp
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        self.register_buffer("pos", torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1),
                             persistent=False)  # [H*W, 2]

    def forward(self, x):
        f = self.kp(x).flatten(2)  # [N, K, H*W]
        a = F.softmax(f, dim=-1)
        return torch.matmul(a, self.pos).reshape(-1, self.num_kp * 2)


class UnetEncoder(nn.Module):
    """Per-frame CNN (Conv2d+GroupNorm+ReLU x3, spatial softmax, Linear+ReLU) and the state,
    concatenated per step ([state, image]) and flattened over the n_obs_steps history.
    forward(observation.state [B,n,7], observation.images.wrist [B,n,3,48,48]) -> [B, C]."""

    def __init__(self, n_obs, state_dim, img, img_feat):
        super().__init__()
        c, h, w = img
        self.n_obs, self.img = n_obs, img
        self.backbone = nn.Sequential(
            nn.Conv2d(c, 16, 3, 2, 1), nn.GroupNorm(4, 16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, 2, 1), nn.GroupNorm(8, 32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, 1, 1), nn.GroupNorm(8, 32), nn.ReLU())
        self.pool = SpatialSoftmax(32, h // 4, w // 4, 16)
        self.out = nn.Sequential(nn.Linear(32, img_feat), nn.ReLU())
        self.feat = img_feat

    def forward(self, state, image):
        c, h, w = self.img
        x = image.reshape(-1, c, h, w)
        f = self.out(self.pool(self.backbone(x))).reshape(-1, self.n_obs, self.feat)
        return torch.cat([state, f], dim=-1).flatten(1)


def sine_pos_2d(d_model, h, w):
    """DETR/ACT-style 2D sinusoidal position embedding, [h*w, d_model]."""
    half = d_model // 2
    dim_t = 10000 ** (2 * (torch.arange(half, dtype=torch.float32) // 2) / half)
    ys = torch.arange(1, h + 1, dtype=torch.float32)[:, None].expand(h, w) / h * 2 * math.pi
    xs = torch.arange(1, w + 1, dtype=torch.float32)[None, :].expand(h, w) / w * 2 * math.pi
    py = ys[..., None] / dim_t
    px = xs[..., None] / dim_t
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=-1).flatten(2)
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=-1).flatten(2)
    return torch.cat((py, px), dim=-1).reshape(h * w, d_model)


class ACTPolicy(nn.Module):
    """ACT-style chunked policy (inference path, latent = learned constant token).
    forward(observation.state [B,14], observation.images.top [B,3,64,64]) -> action [B,20,14]."""

    def __init__(self, state_dim, action_dim, img, horizon, d_model, nhead, dim_ff,
                 enc_layers, dec_layers):
        super().__init__()
        c, h, w = img
        self.backbone = nn.Sequential(
            nn.Conv2d(c, 16, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU())
        self.input_proj = nn.Conv2d(64, d_model, 1)
        self.register_buffer("img_pos", sine_pos_2d(d_model, h // 8, w // 8)[None],
                             persistent=False)
        self.state_proj = nn.Linear(state_dim, d_model)
        self.latent_token = nn.Parameter(torch.randn(1, 1, d_model) * 0.1)
        self.token_pos = nn.Parameter(torch.randn(1, 2, d_model) * 0.1)  # latent, state
        enc = nn.TransformerEncoderLayer(d_model, nhead, dim_ff, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(enc, enc_layers, enable_nested_tensor=False)
        dec = nn.TransformerDecoderLayer(d_model, nhead, dim_ff, dropout=0.0, batch_first=True)
        self.decoder = nn.TransformerDecoder(dec, dec_layers, norm=nn.LayerNorm(d_model))
        self.query_embed = nn.Parameter(torch.randn(1, horizon, d_model) * 0.1)
        self.action_head = nn.Linear(d_model, action_dim)

    def forward(self, state, image):
        f = self.input_proj(self.backbone(image)).flatten(2).transpose(1, 2)  # [B, hw, d]
        img_tokens = f + self.img_pos
        s = self.state_proj(state).unsqueeze(1)  # [B,1,d]
        latent = self.latent_token + torch.zeros_like(s)
        tokens = torch.cat([torch.cat([latent, s], dim=1) + self.token_pos, img_tokens], dim=1)
        memory = self.encoder(tokens)
        tgt = self.query_embed + torch.zeros_like(s)  # broadcast to [B,H,d]
        return self.action_head(self.decoder(tgt, memory))


class FlowDenoiser(nn.Module):
    """MLP velocity field. forward(sample [B,8,4], timestep [B] float32 in [0,1],
    global_cond [B,12]) -> velocity [B,8,4]."""

    def __init__(self, horizon, action_dim, cond_dim, step_embed=32, hidden=256):
        super().__init__()
        self.h, self.a = horizon, action_dim
        self.time_mlp = nn.Sequential(SinusoidalPosEmb(step_embed, scale=100.0),
                                      nn.Linear(step_embed, 4 * step_embed), nn.SiLU(),
                                      nn.Linear(4 * step_embed, step_embed))
        d = horizon * action_dim
        self.net = nn.Sequential(
            nn.Linear(d + step_embed + cond_dim, hidden), nn.Mish(),
            nn.Linear(hidden, hidden), nn.Mish(),
            nn.Linear(hidden, hidden), nn.Mish(),
            nn.Linear(hidden, d))
        with torch.no_grad():  # random weights: make v O(1) and clearly t-dependent
            self.time_mlp[-1].weight.mul_(8.0)
            self.net[-1].weight.mul_(12.0)

    def forward(self, sample, timestep, global_cond):
        x = torch.cat([sample.reshape(-1, self.h * self.a), self.time_mlp(timestep), global_cond],
                      dim=-1)
        return self.net(x).reshape(-1, self.h, self.a)


# ----------------------------------------------------------------------------------------
# Builders (seeded: same weights every call)
# ----------------------------------------------------------------------------------------

def build_unet_encoder():
    torch.manual_seed(SEEDS["unet_encoder"])
    return UnetEncoder(UNET["n_obs"], UNET["state_dim"], UNET["img"], UNET["img_feat"]).eval()


def build_unet_denoiser():
    torch.manual_seed(SEEDS["unet_denoiser"])
    return ConditionalUnet1D(UNET["action_dim"], UNET["cond_dim"], UNET["step_embed"],
                             UNET["down_dims"], UNET["kernel_size"], UNET["n_groups"]).eval()


def build_act_policy():
    torch.manual_seed(SEEDS["act_policy"])
    return ACTPolicy(ACT["state_dim"], ACT["action_dim"], ACT["img"], ACT["horizon"],
                     ACT["d_model"], ACT["nhead"], ACT["dim_ff"], ACT["enc_layers"],
                     ACT["dec_layers"]).eval()


def build_flow_denoiser():
    torch.manual_seed(SEEDS["flow_denoiser"])
    return FlowDenoiser(FLOW["horizon"], FLOW["action_dim"], FLOW["cond_dim"],
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


def _yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_value(x) for x in v) + "]"
    return str(v)


def write_policy_yaml(path, name, kind, cfg, features, models, diffusion=None, comment=""):
    lines = [f"# {comment}" if comment else None,
             f"name: {name}", f"kind: {kind}", f"control_rate_hz: {cfg['rate']}",
             f"n_obs_steps: {cfg['n_obs']}", f"horizon: {cfg['horizon']}",
             f"n_action_steps: {cfg['n_action_steps']}", "features:"]
    lines = [x for x in lines if x is not None]
    w = max(len(k) for k in features) + 1
    for k, (shape, norm) in features.items():
        lines.append(f"  {(k + ':').ljust(w)} {{shape: {_yaml_value(shape)}, normalization: {norm}}}")
    lines.append("stats: stats.json")
    lines.append("models:")
    for k, v in models.items():
        lines.append(f"  {k}: {v}")
    if diffusion is not None:
        lines.append("diffusion:")
        for k, v in diffusion.items():
            lines.append(f"  {k}: {_yaml_value(v)}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def export(model, args, path, key):
    """torch.onnx.export, then pin every non-batch dim of the graph inputs/outputs to the
    traced size (the exporter leaves dims behind a Reshape/Flatten symbolic, e.g.
    "Reshapevelocity_dim_1") and check the model (full_check runs strict shape inference)."""
    import onnx
    ins, outs = IO[key]
    torch.onnx.export(model, args, path, input_names=ins, output_names=outs,
                      dynamic_axes={n: {0: "batch"} for n in ins + outs},
                      opset_version=OPSET, do_constant_folding=True, export_params=True)
    with torch.no_grad():
        out_shape = list(model(*args).shape)
    shapes = dict(zip(ins, [list(a.shape) for a in args]))
    shapes.update({outs[0]: out_shape})
    m = onnx.load(path)
    for v in list(m.graph.input) + list(m.graph.output):
        dims = v.type.tensor_type.shape.dim
        want = shapes[v.name]
        assert len(dims) == len(want), (path, v.name)
        for i, d in enumerate(dims):
            if i == 0:
                d.dim_param = "batch"
            else:
                d.dim_value = int(want[i])
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


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
    write_policy_yaml(
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
    write_policy_yaml(
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
    write_policy_yaml(
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
    torch.set_num_threads(1)
    np.set_printoptions(precision=4, suppress=True)
    gen_unet(HERE)
    gen_act(HERE)
    gen_flow(HERE)


if __name__ == "__main__":
    main()
