"""Writing a robotd policy bundle (docs/policy-bundle.md): a model's ONNX export and the
bundle's policy.yaml. Shared by tools/train/train.py (the reference policies) and
policy/testdata/gen_fixtures.py (the test fixtures); no module-level state.

Debian's python3 with torch 1.13 and onnx 1.12.
"""
import torch

# OPSET is the ONNX opset every bundle model is exported with.
OPSET = 17


def ddim_schedule():
    """The diffusion section robotd's diffusion bundles share (policy.yaml's diffusion
    keys, in this order): 100 squaredcos_cap_v2 training steps, epsilon prediction,
    DDIM with 10 deterministic steps (eta 0) at deploy, samples clipped to [-1, 1].
    A new dict on every call, so a caller may change a key without touching another's."""
    return {
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


def export(model, args, path, input_names, output_names):
    """torch.onnx.export of model on the example inputs args (a tuple of tensors, batch on
    dim 0) to path, the graph's inputs and outputs named input_names and output_names (one
    output), with a dynamic batch dim. Then every non-batch dim of the graph inputs/outputs
    is pinned to the traced size (the exporter leaves dims behind a Reshape/Flatten
    symbolic, e.g. "Reshapevelocity_dim_1") and the model is checked (full_check runs
    strict shape inference)."""
    import onnx
    ins, outs = list(input_names), list(output_names)
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


def _yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_value(x) for x in v) + "]"
    return str(v)


def write_policy_yaml(path, name, kind, cfg, features, models, diffusion=None, comment=""):
    """Writes a bundle's policy.yaml to path. cfg holds rate (control_rate_hz), n_obs,
    horizon and n_action_steps; features maps each feature key to (shape, normalization);
    models maps each role (encoder, denoiser, policy) to its ONNX file; diffusion, when not
    None, is the diffusion section, written in its order; comment, when set, is the first
    line."""
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
