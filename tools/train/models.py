"""The network definitions of robotd's policies, in one place: the reference pick-and-place
policies that tools/train/train.py trains (and tools/train/parity.py checks), and the
small random-weight test fixtures that policy/testdata/gen_fixtures.py exports. Both import
this module; nothing here reads or changes module-level state: every size comes in through
a constructor argument, and seeding is the caller's (the fixture builders seed torch
before they construct).

Building blocks (Diffusion Policy's and ACT's, written from their papers and code):
SinusoidalPosEmb, Conv1dBlock, ConditionalResidualBlock1D, ConditionalUnet1D,
SpatialSoftmax, sine_pos_2d.

Test fixtures (policy/testdata/README.md): UnetEncoder, ACTPolicy, FlowDenoiser.

Steering models (policy/steer, docs/steering.md): ValueMLP, NoisePolicyMLP, ResidualMLP.

Reference policies (tools/train/README.md): KeypointEncoder, DiffusionEncoder,
DiffusionPolicy (encoder + ConditionalUnet1D), ACTStyle. Their module names are the keys
of the training checkpoints (--checkpoint, --resume) and of parity.py's: rename nothing.

Debian's python3 with torch 1.13.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------

class SinusoidalPosEmb(nn.Module):
    """Diffusion Policy's timestep embedding: [sin(t*f), cos(t*f)], f = 10000^(-i/(d/2-1)),
    t multiplied by scale first (a flow model's t in [0, 1] needs a large one)."""

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
    forward(sample [B,H,A], timestep [B] int64, global_cond [B,C]) -> [B,H,A].
    step_embed is the timestep embedding's size, down_dims the channels of each level."""

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


# ----------------------------------------------------------------------------------------
# Test fixtures (policy/testdata: random weights, small)
# ----------------------------------------------------------------------------------------

class UnetEncoder(nn.Module):
    """Per-frame CNN (Conv2d+GroupNorm+ReLU x3, spatial softmax, Linear+ReLU) and the state,
    concatenated per step ([state, image]) and flattened over the n_obs history.
    forward(observation.state [B,n,state_dim], image [B,n,*img]) -> [B, n*(state_dim+img_feat)].
    img is (channels, height, width)."""

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


class ACTPolicy(nn.Module):
    """ACT-style chunked policy (inference path, latent = learned constant token).
    forward(observation.state [B,state_dim], image [B,*img]) -> action [B,horizon,action_dim].
    The CNN downsamples by 8: img's height and width must be multiples of 8."""

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
    """MLP velocity field. forward(sample [B,horizon,action_dim], timestep [B] float32 in
    [0,1], global_cond [B,cond_dim]) -> velocity [B,horizon,action_dim]. The last layers'
    weights are scaled up so that random weights give a velocity of order 1 that clearly
    depends on t (a test fixture, never trained)."""

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
        with torch.no_grad():
            self.time_mlp[-1].weight.mul_(8.0)
            self.net[-1].weight.mul_(12.0)

    def forward(self, sample, timestep, global_cond):
        x = torch.cat([sample.reshape(-1, self.h * self.a), self.time_mlp(timestep), global_cond],
                      dim=-1)
        return self.net(x).reshape(-1, self.h, self.a)


class ValueMLP(nn.Module):
    """Steering value model Q(observation features, chunk) (V-GPS / EXPO's critic, for
    robotd's steering bundles). forward(obs [B,obs_dim], action [B,steps,action_dim]) ->
    value [B]: an MLP over the normalized observation features and the flattened chunk (or
    its first action, steps 1), higher is better."""

    def __init__(self, obs_dim, steps, action_dim, hidden=64):
        super().__init__()
        self.d = steps * action_dim
        self.net = nn.Sequential(nn.Linear(obs_dim + self.d, hidden), nn.Mish(),
                                 nn.Linear(hidden, hidden), nn.Mish(),
                                 nn.Linear(hidden, 1))

    def forward(self, obs, action):
        return self.net(torch.cat([obs, action.reshape(-1, self.d)], dim=-1)).reshape(-1)


class ValueCNN(nn.Module):
    """Steering value model over images too: Q(camera images, observation.state, chunk) for
    a value bundle whose features include observation.images.* (each the policy's
    preprocessed float CHW image, normalized as the bundle declares). forward(*images
    [B,3,hw,hw] in the bundle's camera order, state [B,state_dim], action
    [B,steps,action_dim]) -> value [B]: a KeypointEncoder per camera, concatenated with the
    state and the flattened chunk, then an MLP."""

    def __init__(self, cams, hw, state_dim, steps, action_dim, feat=32, hidden=128):
        super().__init__()
        self.d = steps * action_dim
        self.encs = nn.ModuleList([KeypointEncoder(hw=hw, keypoints=16, feat=feat) for _ in range(cams)])
        self.net = nn.Sequential(nn.Linear(cams * feat + state_dim + self.d, hidden), nn.Mish(),
                                 nn.Linear(hidden, hidden), nn.Mish(), nn.Linear(hidden, 1))

    def forward(self, *args):
        *images, state, action = args
        fs = [enc(x) for enc, x in zip(self.encs, images)]
        return self.net(torch.cat(fs + [state, action.reshape(-1, self.d)], dim=-1)).reshape(-1)


class NoisePolicyMLP(nn.Module):
    """Steering noise policy (DSRL, Wagenmaker et al. 2025, arXiv:2506.15799): the initial
    noise of a frozen diffusion/flow policy's deterministic sampler, chosen from the
    observation, in the policy's normalized action space. forward(obs [B,obs_dim],
    eps [B,horizon,action_dim] or None) -> noise [B,horizon,action_dim]: a Gaussian over
    the noise in reparameterized form, mean + exp(log_std) * eps (log_std clamped to
    [-5, 2]); without eps, the mean (the deterministic policy). An MLP over the normalized
    observation features with a mean and a log-std head. The bound on the noise is the
    deployment's (robotd clips to steering.noise.bound), not the network's."""

    def __init__(self, obs_dim, horizon, action_dim, hidden=64):
        super().__init__()
        self.h, self.a = horizon, action_dim
        d = horizon * action_dim
        self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Mish(),
                                 nn.Linear(hidden, hidden), nn.Mish())
        self.mean = nn.Linear(hidden, d)
        self.log_std = nn.Linear(hidden, d)

    def forward(self, obs, eps=None):
        x = self.net(obs)
        mean = self.mean(x)
        if eps is not None:
            std = torch.exp(self.log_std(x).clamp(-5.0, 2.0))
            mean = mean + std * eps.reshape(-1, self.h * self.a)
        return mean.reshape(-1, self.h, self.a)


class ResidualMLP(nn.Module):
    """Steering residual policy (ResFiT, Ankile et al. 2025, arXiv:2509.19301; EXPO's
    edit): a correction to one base action. forward(obs [B,obs_dim], action
    [B,action_dim]) -> residual [B,action_dim], all in normalized units; robotd scales and
    clips it per value (steering.residual.scale, .bound) and adds it to the normalized base
    action. zero_init sets the last layer to zero, as residual RL starts: the untrained
    residual is exactly 0 and the base policy runs unchanged."""

    def __init__(self, obs_dim, action_dim, hidden=64, zero_init=True):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim + action_dim, hidden), nn.Mish(),
                                 nn.Linear(hidden, hidden), nn.Mish(),
                                 nn.Linear(hidden, action_dim))
        if zero_init:
            with torch.no_grad():
                self.net[-1].weight.zero_()
                self.net[-1].bias.zero_()

    def forward(self, obs, action):
        return self.net(torch.cat([obs, action], dim=-1))


# ----------------------------------------------------------------------------------------
# Reference pick-and-place policies (tools/train; two cameras, scene then wrist)
# ----------------------------------------------------------------------------------------

def conv_gn(cin, cout, k, stride):
    """Conv2d (padding k//2) -> GroupNorm(8) -> ReLU, as a list of layers."""
    return [nn.Conv2d(cin, cout, k, stride, k // 2), nn.GroupNorm(8, cout), nn.ReLU()]


def stem():
    """4x4 patches to 32 channels, then a 3x3 conv: [N,3,96,96] -> [N,32,24,24]. A patchify
    stem costs an eighth of a 5x5 stride-2 one on this CPU (torch 1.13, GroupNorm included)."""
    return [nn.Conv2d(3, 32, 4, 4), nn.GroupNorm(8, 32), nn.ReLU(), *conv_gn(32, 32, 3, 1)]


class KeypointEncoder(nn.Module):
    """One camera's frames [N,3,hw,hw] -> [N,feat]: a patchify stem and a strided conv to
    hw/8 x hw/8, spatial softmax keypoints (Levine et al.; Diffusion Policy's robomimic
    encoder), a linear layer."""

    def __init__(self, hw=96, keypoints=32, feat=64):
        super().__init__()
        self.net = nn.Sequential(*stem(), *conv_gn(32, 64, 3, 2))
        s = hw // 8
        self.pool = SpatialSoftmax(64, s, s, keypoints)
        self.out = nn.Sequential(nn.Linear(2 * keypoints, feat), nn.ReLU())

    def forward(self, x):
        return self.out(self.pool(self.net(x)))


class DiffusionEncoder(nn.Module):
    """encoder.onnx: (observation.images.scene [B,n,3,96,96], observation.images.wrist,
    observation.state [B,n,state_dim]) -> global_cond [B, dim]. The images of the latest
    step go through the CNNs; the state history is kept whole: [scene feat, wrist feat,
    state_1..state_n]. (The older step's images would double the CNN cost, which dominates
    training on a CPU; the state history already carries the motion.) aux_dim is the size
    of the training-only auxiliary target (the cube's pose) that forward_aux also predicts."""

    def __init__(self, n_obs, state_dim, aux_dim, feat=64):
        super().__init__()
        self.n_obs = n_obs
        self.cams = nn.ModuleList([KeypointEncoder(feat=feat) for _ in range(2)])  # scene, wrist
        self.dim = 2 * feat + n_obs * state_dim
        # Training only (not exported): the cube's pose from the image features.
        self.aux = nn.Sequential(nn.Linear(2 * feat, 128), nn.ReLU(), nn.Linear(128, aux_dim))

    def forward(self, scene, wrist, state):
        return self.forward_aux(scene, wrist, state)[0]

    def forward_aux(self, scene, wrist, state):
        """(global_cond, auxiliary prediction [B, aux_dim])"""
        fs = [enc(x[:, -1]) for enc, x in zip(self.cams, (scene, wrist))]
        return torch.cat(fs + [state.flatten(1)], dim=-1), self.aux(torch.cat(fs, dim=-1))


class DiffusionPolicy(nn.Module):
    """The reference diffusion policy: encoder (DiffusionEncoder, exported as encoder.onnx)
    and denoiser (a ConditionalUnet1D with 64-wide step embedding and 32-64-128 channels,
    exported as denoiser.onnx)."""

    def __init__(self, n_obs, state_dim, action_dim, aux_dim):
        super().__init__()
        self.encoder = DiffusionEncoder(n_obs, state_dim, aux_dim)
        self.denoiser = ConditionalUnet1D(action_dim, self.encoder.dim, step_embed=64,
                                          down_dims=(32, 64, 128), kernel_size=5, n_groups=8)


class ACTStyle(nn.Module):
    """policy.onnx: (observation.images.scene [B,3,96,96], observation.images.wrist,
    observation.state [B,state_dim]) -> action [B,horizon,action_dim] (normalized).
    Per-camera CNN to a 6x6 feature map (36 tokens each, 2D sine positions plus a learned
    camera embedding), a state token and a constant latent token, transformer encoder,
    decoder with horizon learned queries. aux_dim as for DiffusionEncoder (predicted from
    the mean of the encoded image tokens)."""

    def __init__(self, state_dim, action_dim, horizon, aux_dim, d=128, heads=4, ff=256, enc=2,
                 dec=2):
        super().__init__()
        self.cams = nn.ModuleList([nn.Sequential(
            *stem(), *conv_gn(32, 64, 3, 2), *conv_gn(64, 128, 3, 2), nn.Conv2d(128, d, 1))
            for _ in range(2)])  # scene, wrist
        self.register_buffer("img_pos", sine_pos_2d(d, 6, 6)[None], persistent=False)
        self.cam_embed = nn.Parameter(torch.randn(2, 1, d) * 0.02)
        self.state_proj = nn.Linear(state_dim, d)
        self.latent = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.token_pos = nn.Parameter(torch.randn(1, 2, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, enc, enable_nested_tensor=False)
        layer = nn.TransformerDecoderLayer(d, heads, ff, dropout=0.1, batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, dec, norm=nn.LayerNorm(d))
        self.queries = nn.Parameter(torch.randn(1, horizon, d) * 0.02)
        self.head = nn.Linear(d, action_dim)
        # Training only (not exported): the cube's pose from the encoded image tokens.
        self.aux = nn.Sequential(nn.Linear(d, 128), nn.ReLU(), nn.Linear(128, aux_dim))

    def forward(self, scene, wrist, state):
        return self.forward_aux(scene, wrist, state)[0]

    def forward_aux(self, scene, wrist, state):
        """(actions, auxiliary prediction [B, aux_dim])"""
        s = self.state_proj(state).unsqueeze(1)
        tokens = [torch.cat([self.latent + torch.zeros_like(s), s], dim=1) + self.token_pos]
        for i, (net, x) in enumerate(zip(self.cams, (scene, wrist))):
            tokens.append(net(x).flatten(2).transpose(1, 2) + self.img_pos + self.cam_embed[i])
        memory = self.encoder(torch.cat(tokens, dim=1))
        actions = self.head(self.decoder(self.queries + torch.zeros_like(s), memory))
        return actions, self.aux(memory[:, 2:].mean(1))
