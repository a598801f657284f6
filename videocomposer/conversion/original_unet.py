"""The original release's ``UNetSD_temporal`` state dict <-> `VideoComposerUNet3DModel` + `STCEncoder`.

The key table is in the docstrings of ``videocomposer.models.unet_3d`` and ``videocomposer.models.stc_encoder``; here
it is generated from the configuration, so the same code serves the 1.4 B release and tiny test models. Reshapes:
the temporal transformers' Conv1d(k=1) projections become Linear weights, and each STC branch's fused ``to_qkv`` is
split into ``to_q``, ``to_k``, ``to_v`` (rows, q first). Conversion is strict in both directions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..models.stc_encoder import KNOWN_CONDITIONS, STCEncoder
from ..models.unet_3d import VideoComposerUNet3DModel
from .checkpoint import unwrap_state_dict
from .key_rules import KeyRule, Transform, apply_rules, invert_rules

#: The released model's constructor arguments (original names, ``tools/videocomposer/config.py``).
RELEASE_ORIGINAL_CONFIG: dict[str, Any] = {
    "in_dim": 4,
    "concat_dim": 8,
    "dim": 320,
    "dim_mult": (1, 2, 4, 4),
    "num_res_blocks": 2,
    "attn_scales": (1.0, 0.5, 0.25),
    "head_dim": 64,
    "num_heads": 8,
    "context_dim": 1024,
    "out_dim": 4,
    "dropout": 0.1,
    "temporal_attention": True,
    "use_fps_condition": False,
    "video_compositions": ("text", "mask", "depthmap", "sketch", "motion", "image", "local_image", "single_sketch"),
    # accepted, no effect on the converted weights: unused by the original (y_dim), or training-only (gradient
    # checkpointing, the condition drop-path probabilities misc_dropout / p_all_zero / p_all_keep)
    "y_dim": 1024,
    "use_checkpoint": True,
    "misc_dropout": 0.5,
    "p_all_zero": 0.1,
    "p_all_keep": 0.1,
    # structural: only these values can be built
    "temporal_attn_times": 1,
    "use_sim_mask": False,
}
#: Structural keys with the only value `VideoComposerUNet3DModel` can build.
_ONLY_SUPPORTED = {
    "temporal_attention": True,
    "use_fps_condition": False,
    "temporal_attn_times": 1,
    "use_sim_mask": False,
}
_PROBABILITIES = ("misc_dropout", "p_all_zero", "p_all_keep")

#: ``video_compositions`` entry -> STC branch (``None``: an input without a branch).
_COMPOSITION_BRANCH: dict[str, str | None] = {
    "text": None,
    "image": None,
    "depthmap": "depth",
    "motion": "motion",
    "canny": "canny",
    "mask": "masked",
    "sketch": "sketch",
    "single_sketch": "single_sketch",
    "local_image": "local_image",
}
#: The original's module registration order of the branches.
_ORIGINAL_BRANCH_ORDER = ("depth", "motion", "canny", "masked", "sketch", "single_sketch", "local_image")
#: Pre-image-condition MLP width: hard-coded 1024 -> 1024 -> 1024 in the original.
_IMAGE_EMBED_DIM = 1024

_RESNET_NAMES = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_STC_NAMES = {
    "conv_in": "{emb}.0",
    "conv_mid": "{emb}.3",
    "conv_out": "{emb}.5",
    "norm": "{after}.layers.0.0.norm",
    "attn.to_q": "{after}.layers.0.0.fn.to_qkv",
    "attn.to_k": "{after}.layers.0.0.fn.to_qkv",
    "attn.to_v": "{after}.layers.0.0.fn.to_qkv",
    "attn.to_out.0": "{after}.layers.0.0.fn.to_out.0",
    "ff.net.0.proj": "{after}.layers.0.1.net.0.0",
    "ff.net.2": "{after}.layers.0.1.net.2",
}

# A suffix mapper turns the key suffix below an "ours" module prefix into (original suffix, transform).
SuffixMap = Callable[[str], tuple[str, Transform]]


def _same(suffix: str) -> tuple[str, Transform]:
    return suffix, "copy"


def _resnet(suffix: str) -> tuple[str, Transform]:
    module, _, param = suffix.partition(".")
    return f"{_RESNET_NAMES[module]}.{param}", "copy"


def _temporal_transformer(suffix: str) -> tuple[str, Transform]:
    return suffix, "squeeze" if suffix in ("proj_in.weight", "proj_out.weight") else "copy"


def _renamed(names: dict[str, str]) -> SuffixMap:
    def mapper(suffix: str) -> tuple[str, Transform]:
        module, _, param = suffix.rpartition(".")
        return f"{names[module]}.{param}", "copy"

    return mapper


def _stc_branch(branch: str) -> SuffixMap:
    emb = f"{branch}_embedding"
    after = "mask_embedding_after" if branch == "masked" else f"{branch}_embedding_after"

    def mapper(suffix: str) -> tuple[str, Transform]:
        module, _, param = suffix.rpartition(".")
        transform: Transform = "split_rows" if module in ("attn.to_q", "attn.to_k", "attn.to_v") else "copy"
        return f"{_STC_NAMES[module].format(emb=emb, after=after)}.{param}", transform

    return mapper


def _check_original_config(original_config: Mapping[str, Any] | None) -> dict[str, Any]:
    config = dict(RELEASE_ORIGINAL_CONFIG)
    if original_config is None:
        return config
    if not isinstance(original_config, Mapping):
        raise TypeError(f"original_config: expected a dict of constructor arguments, got {type(original_config)}")
    unknown = sorted(set(original_config) - set(config))
    if unknown:
        raise ValueError(f"original_config: unknown key(s) {unknown}; accepted keys are {sorted(config)}")
    config.update(original_config)
    if config["num_heads"] is None:  # the original's default
        config["num_heads"] = config["dim"] // 32
    for key, supported in _ONLY_SUPPORTED.items():
        value = config[key]
        if value != supported or type(value) is not type(supported):
            raise ValueError(
                f"original_config: {key}={value!r} is not supported by VideoComposerUNet3DModel (supported: "
                f"{key}={supported!r})"
            )
    for key in _PROBABILITIES:
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"original_config: {key} must be a probability in [0, 1], got {value!r}")
    if not isinstance(config["use_checkpoint"], bool):
        raise ValueError(f"original_config: use_checkpoint must be a bool, got {config['use_checkpoint']!r}")
    if isinstance(config["y_dim"], bool) or not isinstance(config["y_dim"], int) or config["y_dim"] < 1:
        raise ValueError(f"original_config: y_dim must be a positive int, got {config['y_dim']!r}")
    unknown = sorted(set(config["video_compositions"]) - set(_COMPOSITION_BRANCH))
    if unknown:
        raise ValueError(
            f"original_config: unknown video_compositions {unknown}; expected entries of {sorted(_COMPOSITION_BRANCH)}"
        )
    return config


def _level_has_attention(scale_index: int, attn_scales: tuple[float, ...]) -> bool:
    return 1.0 / 2**scale_index in attn_scales


def diffusers_configs(original_config: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Constructor arguments of `VideoComposerUNet3DModel` and `STCEncoder` for an original configuration."""
    config = _check_original_config(original_config)
    levels = len(config["dim_mult"])
    scales = tuple(config["attn_scales"])
    unet = {
        # The release renders 256x256 (latent 32 with the SD VAE's factor 8), 16 frames: the pipeline's default size.
        "sample_size": 32,
        "num_frames": 16,
        "in_channels": config["in_dim"],
        "condition_channels": config["concat_dim"],
        "out_channels": config["out_dim"],
        "down_block_types": tuple(
            "CrossAttnDownBlock3D" if _level_has_attention(i, scales) else "DownBlock3D" for i in range(levels)
        ),
        "up_block_types": tuple(
            "CrossAttnUpBlock3D" if _level_has_attention(levels - 1 - i, scales) else "UpBlock3D"
            for i in range(levels)
        ),
        "block_out_channels": tuple(config["dim"] * mult for mult in config["dim_mult"]),
        "layers_per_block": config["num_res_blocks"],
        "norm_num_groups": 32,
        "norm_eps": 1e-5,
        "cross_attention_dim": config["context_dim"],
        "attention_head_dim": config["head_dim"],
        "transformer_in_num_heads": config["num_heads"],
        "image_embed_dim": _IMAGE_EMBED_DIM,
        "dropout": config["dropout"],
    }
    branches = {_COMPOSITION_BRANCH[name] for name in config["video_compositions"]} - {None}
    stc = {
        # STCEncoder sums in KNOWN_CONDITIONS order, which is the original forward's order.
        "condition_channels": {name: channels for name, channels in KNOWN_CONDITIONS.items() if name in branches},
        "out_channels": config["concat_dim"],
        "hidden_channels": 4 * config["concat_dim"],
        "num_attention_heads": 2,
        "attention_head_dim": config["concat_dim"],
        "ff_mult": 4,
        "dropout": 0.05,
    }
    return unet, stc


def _module_pairs(unet_config: Mapping[str, Any], conditions: tuple[str, ...]) -> list[tuple[str, str, SuffixMap]]:
    """(our module prefix, original module prefix, suffix mapper), in the original's registration order."""
    layers = unet_config["layers_per_block"]
    levels = len(unet_config["block_out_channels"])
    pairs: list[tuple[str, str, SuffixMap]] = [
        ("time_embedding", "time_embed", _renamed({"linear_1": "0", "linear_2": "2"})),
        ("image_embedding", "pre_image_condition", _renamed({"linear_1": "0", "linear_2": "2"})),
    ]
    for branch in _ORIGINAL_BRANCH_ORDER:
        if branch in conditions:
            pairs.append((f"branches.{branch}", "", _stc_branch(branch)))
    pairs += [("conv_in", "input_blocks.0.0", _same), ("transformer_in", "input_blocks.0.1", _temporal_transformer)]

    def layer(ours: str, original: str, index: int, attention: bool) -> None:
        pairs.append((f"{ours}.resnets.{index}", f"{original}.0", _resnet))
        pairs.append((f"{ours}.temp_convs.{index}", f"{original}.0.temopral_conv", _same))
        if attention:
            pairs.append((f"{ours}.attentions.{index}", f"{original}.1", _same))
            pairs.append((f"{ours}.temp_attentions.{index}", f"{original}.2", _temporal_transformer))

    block = 1
    for level, block_type in enumerate(unet_config["down_block_types"]):
        for index in range(layers):
            layer(f"down_blocks.{level}", f"input_blocks.{block}", index, block_type == "CrossAttnDownBlock3D")
            block += 1
        if level < levels - 1:
            pairs.append((f"down_blocks.{level}.downsamplers.0.conv", f"input_blocks.{block}.op", _same))
            block += 1

    pairs += [
        ("mid_block.resnets.0", "middle_block.0", _resnet),
        ("mid_block.temp_convs.0", "middle_block.0.temopral_conv", _same),
        ("mid_block.attentions.0", "middle_block.1", _same),
        ("mid_block.temp_attentions.0", "middle_block.2", _temporal_transformer),
        ("mid_block.resnets.1", "middle_block.3", _resnet),
        ("mid_block.temp_convs.1", "middle_block.3.temopral_conv", _same),
    ]

    block = 0
    for level, block_type in enumerate(unet_config["up_block_types"]):
        attention = block_type == "CrossAttnUpBlock3D"
        for index in range(layers + 1):
            layer(f"up_blocks.{level}", f"output_blocks.{block}", index, attention)
            if level < levels - 1 and index == layers:
                slot = 3 if attention else 1
                pairs.append((f"up_blocks.{level}.upsamplers.0.conv", f"output_blocks.{block}.{slot}.conv", _same))
            block += 1
    pairs += [("conv_norm_out", "out.0", _same), ("conv_out", "out.2", _same)]
    return pairs


def build_key_rules(
    unet_config: Mapping[str, Any], conditions: tuple[str, ...], target_keys: list[str]
) -> list[KeyRule]:
    """One `KeyRule` per original key, for a model whose state dict keys are ``target_keys`` (UNet keys as they are,
    STC keys with the prefix ``stc_encoder.``)."""
    pairs = {ours: (original, mapper) for ours, original, mapper in _module_pairs(unet_config, conditions)}
    claimed: dict[str, list[str]] = {ours: [] for ours in pairs}
    for key in target_keys:
        parts = key.removeprefix("stc_encoder.").split(".")
        prefix = next((p for p in (".".join(parts[:n]) for n in range(1, len(parts))) if p in pairs), None)
        if prefix is not None:  # an unclaimed key is reported as a missing target by `check_rules`
            claimed[prefix].append(key)
    grouped: dict[str, tuple[list[str], Transform]] = {}
    for ours_prefix, (original_prefix, mapper) in pairs.items():
        for key in claimed[ours_prefix]:
            suffix, transform = mapper(key.removeprefix("stc_encoder.")[len(ours_prefix) + 1 :])
            source = f"{original_prefix}.{suffix}" if original_prefix else suffix
            grouped.setdefault(source, ([], transform))[0].append(key)
    rules = []
    for source, (targets, transform) in grouped.items():
        if transform == "split_rows":  # q, k, v in this order
            targets = sorted(targets, key=lambda key: ("to_q." not in key, "to_k." not in key))
        rules.append(KeyRule(source, tuple(targets), transform))
    return rules


def _shape_facts(state_dict: Mapping[str, torch.Tensor]) -> dict[str, tuple[Any, str]]:
    """Configuration values that can be read off the state dict's shapes: name -> (value, evidence key)."""
    facts: dict[str, tuple[Any, str]] = {}

    def shape(key: str) -> tuple[int, ...] | None:
        return tuple(state_dict[key].shape) if key in state_dict else None

    if (s := shape("time_embed.0.weight")) is not None:
        facts["dim"] = (s[1], "time_embed.0.weight")
    if (s := shape("out.2.weight")) is not None:
        facts["out_dim"] = (s[0], "out.2.weight")
    if (s := shape("input_blocks.0.1.proj_in.weight")) is not None:
        facts["num_heads * head_dim"] = (s[0], "input_blocks.0.1.proj_in.weight")
    context = next((k for k in state_dict if k.endswith("transformer_blocks.0.attn2.to_k.weight")
                    and k.startswith(("input_blocks.1.", "middle_block.1."))), None)  # fmt: skip
    if context is not None:
        facts["context_dim"] = (state_dict[context].shape[1], context)
    branches = [name for name in _ORIGINAL_BRANCH_ORDER if any(k.startswith(f"{name}_embedding.") for k in state_dict)]
    facts["STC branches"] = (tuple(branches), "{name}_embedding.* keys")
    if branches and (s := shape(f"{branches[0]}_embedding.5.weight")) is not None:
        facts["concat_dim"] = (s[0], f"{branches[0]}_embedding.5.weight")
        if (c := shape("input_blocks.0.0.weight")) is not None:
            facts["in_dim"] = (c[1] - s[0], "input_blocks.0.0.weight minus concat_dim")
    return facts


def _check_shapes_against_config(
    state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any], stc: Mapping[str, Any]
) -> None:
    expected = {
        "dim": config["dim"],
        "out_dim": config["out_dim"],
        "num_heads * head_dim": config["num_heads"] * config["head_dim"],
        "context_dim": config["context_dim"],
        "STC branches": tuple(b for b in _ORIGINAL_BRANCH_ORDER if b in stc["condition_channels"]),
        "concat_dim": config["concat_dim"],
        "in_dim": config["in_dim"],
    }
    wrong = [
        f"{name}: original_config gives {expected[name]!r}, the state dict has {value!r} ({evidence})"
        for name, (value, evidence) in _shape_facts(state_dict).items()
        if value != expected[name]
    ]
    if wrong:
        raise ValueError(
            "original_config does not describe this state dict (pass the original constructor arguments that "
            "built it):\n  " + "\n  ".join(wrong)
        )


def convert_original_unet(
    state_dict: Mapping[str, Any],
    original_config: Mapping[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[VideoComposerUNet3DModel, STCEncoder]:
    """Convert an original ``UNetSD_temporal`` state dict into a `VideoComposerUNet3DModel` and an `STCEncoder`.

    Args:
        state_dict: the original weights: a plain dict, a ``{"state_dict": ...}`` wrapper, or keys with the
            ``module.`` prefix. Tensors may be memory-mapped (``torch.load(..., mmap=True)``) or on the meta device;
            they are converted one at a time and the models take them over (``assign=True``) without a copy, except
            for a ``dtype`` cast and the split ``to_qkv`` weights.
        original_config: the original ``UNetSD_temporal`` keyword arguments, named as the original's inference code
            passes them (``in_dim, concat_dim, dim, y_dim, context_dim, out_dim, dim_mult, num_heads, head_dim,
            num_res_blocks, attn_scales, dropout, temporal_attention, temporal_attn_times, use_checkpoint,
            use_fps_condition, use_sim_mask, video_compositions, misc_dropout, p_all_zero, p_all_keep``), those that
            differ from the release (`RELEASE_ORIGINAL_CONFIG`). Values readable from shapes are checked against the
            state dict. ``y_dim`` (unused by the original), ``use_checkpoint``, ``misc_dropout``, ``p_all_zero`` and
            ``p_all_keep`` (training only) are validated and do not change the weights; ``temporal_attention=True``,
            ``temporal_attn_times=1``, ``use_fps_condition=False`` and ``use_sim_mask=False`` are the only structural
            values supported (others raise ``ValueError`` naming the key and the supported value).
        dtype: cast the weights to this dtype (e.g. ``torch.float16``).

    Returns:
        `(unet, stc_encoder)`, in eval mode, on the device of the given tensors.

    Raises:
        ValueError: the configuration does not match the shapes, or a key is missing / unexpected / of another
            shape (the report lists them grouped by prefix). Nothing is loaded partially.
    """
    state_dict = unwrap_state_dict(state_dict)
    config = _check_original_config(original_config)
    unet_kwargs, stc_kwargs = diffusers_configs(config)
    _check_shapes_against_config(state_dict, config, stc_kwargs)

    with torch.device("meta"):
        unet = VideoComposerUNet3DModel(**unet_kwargs)
        stc_encoder = STCEncoder(**stc_kwargs)
    target_shapes = {key: value.shape for key, value in unet.state_dict().items()}
    target_shapes.update({f"stc_encoder.{key}": value.shape for key, value in stc_encoder.state_dict().items()})
    rules = build_key_rules(unet_kwargs, stc_encoder.conditions, list(target_shapes))
    converted = apply_rules(state_dict, rules, target_shapes, name="state_dict", dtype=dtype)

    stc_prefix = "stc_encoder."
    unet.load_state_dict(
        {k: v for k, v in converted.items() if not k.startswith(stc_prefix)}, strict=True, assign=True
    )
    stc_encoder.load_state_dict(
        {k[len(stc_prefix) :]: v for k, v in converted.items() if k.startswith(stc_prefix)}, strict=True, assign=True
    )
    return unet.eval(), stc_encoder.eval()


def original_config_of(unet: VideoComposerUNet3DModel, stc_encoder: STCEncoder) -> dict[str, Any]:
    """The original constructor arguments that build these two models; ``ValueError`` if the pair cannot be
    expressed in the original layout (e.g. other group norms, a missing style MLP, an unknown condition)."""
    if not isinstance(unet, VideoComposerUNet3DModel):
        raise TypeError(f"unet: expected a VideoComposerUNet3DModel, got {type(unet).__name__}")
    if not isinstance(stc_encoder, STCEncoder):
        raise TypeError(f"stc_encoder: expected an STCEncoder, got {type(stc_encoder).__name__}")
    u, s = unet.config, stc_encoder.config
    dim = u.block_out_channels[0]
    if any(channels % dim for channels in u.block_out_channels):
        raise ValueError(f"unet: block_out_channels {u.block_out_channels} are not multiples of the first one")
    compositions = {branch: name for name, branch in _COMPOSITION_BRANCH.items() if branch}
    config = {
        "in_dim": u.in_channels,
        "concat_dim": u.condition_channels,
        "dim": dim,
        "dim_mult": tuple(channels // dim for channels in u.block_out_channels),
        "num_res_blocks": u.layers_per_block,
        "attn_scales": tuple(
            1.0 / 2**i for i, block in enumerate(u.down_block_types) if block == "CrossAttnDownBlock3D"
        ),
        "head_dim": u.attention_head_dim,
        "num_heads": u.transformer_in_num_heads,
        "context_dim": u.cross_attention_dim,
        "out_dim": u.out_channels,
        "dropout": u.dropout,
        "temporal_attention": True,
        "use_fps_condition": False,
        "video_compositions": ("text", "image", *(compositions[name] for name in stc_encoder.conditions)),
        **{key: RELEASE_ORIGINAL_CONFIG[key] for key in ("y_dim", "use_checkpoint", *_PROBABILITIES)},
        "temporal_attn_times": 1,
        "use_sim_mask": False,
    }
    expected_unet, expected_stc = diffusers_configs(config)
    differences = [f"unet.{k}={u[k]!r} (original layout: {v!r})" for k, v in expected_unet.items()
                   if (tuple(u[k]) if isinstance(u[k], list) else u[k]) != v]  # fmt: skip
    differences += [f"stc_encoder.{k}={s[k]!r} (original layout: {v!r})" for k, v in expected_stc.items() if s[k] != v]
    if differences:
        raise ValueError("these models cannot be written in the original layout: " + "; ".join(differences))
    return config


def export_original_state_dict(unet: VideoComposerUNet3DModel, stc_encoder: STCEncoder) -> dict[str, torch.Tensor]:
    """The original ``UNetSD_temporal`` state dict of ``unet`` + ``stc_encoder`` (inverse of
    `convert_original_unet`; exact: only renames, reshapes and concatenations)."""
    config = original_config_of(unet, stc_encoder)
    unet_kwargs, _ = diffusers_configs(config)
    state = dict(unet.state_dict())
    state.update({f"stc_encoder.{key}": value for key, value in stc_encoder.state_dict().items()})
    return invert_rules(state, build_key_rules(unet_kwargs, stc_encoder.conditions, list(state)))
