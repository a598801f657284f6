"""OpenCLIP (ViT-H-14) weights -> transformers `CLIPTextModel` + `CLIPVisionModelWithProjection`, tokenizer and
image processor, all offline.

- Text: the original uses the penultimate layer's hidden states followed by ``ln_final`` (as Stable Diffusion 2.x).
  That is a `CLIPTextModel` with ``layers - 1`` layers whose ``final_layer_norm`` is ``ln_final``: its
  ``last_hidden_state`` is the original's text context. The last text block, ``text_projection`` and ``logit_scale``
  are not used.
- Image: ``encode_image`` (class token after ``ln_post``, times ``proj``) is `CLIPVisionModelWithProjection`'s
  ``image_embeds``.
- Tokenizer: open_clip's bundled BPE vocabulary; padding id 0 as ``open_clip.tokenize``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from tokenizers import AddedToken
from transformers import (
    CLIPImageProcessor,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

from .checkpoint import unwrap_state_dict
from .key_rules import KeyRule, apply_rules

#: OpenAI CLIP normalisation, used by open_clip's ViT-H-14 preprocessing.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_TOP_KEYS = {"embed_dim", "vision_cfg", "text_cfg", "quick_gelu"}
_TEXT_KEYS = {"context_length", "vocab_size", "width", "heads", "layers", "mlp_ratio"}
_VISION_KEYS = {"image_size", "layers", "width", "head_width", "patch_size", "mlp_ratio"}
_BLOCK_NAMES = {
    "ln_1": "layer_norm1",
    "attn.out_proj": "self_attn.out_proj",
    "ln_2": "layer_norm2",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}


def default_open_clip_config() -> dict[str, Any]:
    """open_clip's bundled ViT-H-14 model config (no download)."""
    import open_clip

    return open_clip.get_model_config("ViT-H-14")


def _check_model_config(model_config: Mapping[str, Any]) -> None:
    if not isinstance(model_config, Mapping) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(model_config):
        raise ValueError("model_config: expected an open_clip model config with embed_dim, vision_cfg and text_cfg")
    for where, config, allowed in (
        ("model_config", model_config, _TOP_KEYS),
        ("model_config['text_cfg']", model_config["text_cfg"], _TEXT_KEYS),
        ("model_config['vision_cfg']", model_config["vision_cfg"], _VISION_KEYS),
    ):
        unsupported = sorted(set(config) - allowed)
        if unsupported:
            raise ValueError(f"{where}: unsupported option(s) {unsupported}; supported: {sorted(allowed)}")


def transformers_configs(model_config: Mapping[str, Any] | None = None) -> tuple[CLIPTextConfig, CLIPVisionConfig]:
    """The `CLIPTextConfig` (``layers - 1`` layers) and `CLIPVisionConfig` of an open_clip model config."""
    model_config = default_open_clip_config() if model_config is None else model_config
    _check_model_config(model_config)
    text, vision = model_config["text_cfg"], model_config["vision_cfg"]
    act = "quick_gelu" if model_config.get("quick_gelu", False) else "gelu"
    if text["layers"] < 2:
        raise ValueError(f"model_config['text_cfg']: the penultimate layer needs layers >= 2, got {text['layers']}")
    text_config = CLIPTextConfig(
        vocab_size=text["vocab_size"],
        hidden_size=text["width"],
        intermediate_size=int(text["width"] * text.get("mlp_ratio", 4.0)),
        projection_dim=model_config["embed_dim"],
        num_hidden_layers=text["layers"] - 1,
        num_attention_heads=text["heads"],
        max_position_embeddings=text["context_length"],
        hidden_act=act,
        layer_norm_eps=1e-5,
        pad_token_id=0,
        bos_token_id=text["vocab_size"] - 2,
        eos_token_id=text["vocab_size"] - 1,
    )
    vision_config = CLIPVisionConfig(
        hidden_size=vision["width"],
        intermediate_size=int(vision["width"] * vision.get("mlp_ratio", 4.0)),
        projection_dim=model_config["embed_dim"],
        num_hidden_layers=vision["layers"],
        num_attention_heads=vision["width"] // vision.get("head_width", 64),
        image_size=vision["image_size"],
        patch_size=vision["patch_size"],
        hidden_act=act,
        layer_norm_eps=1e-5,
    )
    return text_config, vision_config


def _block_rules(source: str, target: str) -> list[KeyRule]:
    rules = [
        KeyRule(f"{source}.attn.in_proj_weight", tuple(f"{target}.self_attn.{p}_proj.weight" for p in "qkv"),
                "split_rows"),
        KeyRule(f"{source}.attn.in_proj_bias", tuple(f"{target}.self_attn.{p}_proj.bias" for p in "qkv"), "split_rows"),
    ]  # fmt: skip
    for old, new in _BLOCK_NAMES.items():
        rules += [KeyRule(f"{source}.{old}.{p}", (f"{target}.{new}.{p}",)) for p in ("weight", "bias")]
    return rules


def _text_rules(num_layers: int) -> list[KeyRule]:
    rules = [
        KeyRule("token_embedding.weight", ("embeddings.token_embedding.weight",)),
        KeyRule("positional_embedding", ("embeddings.position_embedding.weight",)),
    ]
    for i in range(num_layers):
        rules += _block_rules(f"transformer.resblocks.{i}", f"encoder.layers.{i}")
    rules += [KeyRule(f"ln_final.{p}", (f"final_layer_norm.{p}",)) for p in ("weight", "bias")]
    return rules


def _vision_rules(num_layers: int) -> list[KeyRule]:
    rules = [
        KeyRule("visual.class_embedding", ("vision_model.embeddings.class_embedding",)),
        KeyRule("visual.positional_embedding", ("vision_model.embeddings.position_embedding.weight",)),
        KeyRule("visual.conv1.weight", ("vision_model.embeddings.patch_embedding.weight",)),
        KeyRule("visual.proj", ("visual_projection.weight",), "transpose"),
    ]
    rules += [KeyRule(f"visual.ln_pre.{p}", (f"vision_model.pre_layrnorm.{p}",)) for p in ("weight", "bias")]
    for i in range(num_layers):
        rules += _block_rules(f"visual.transformer.resblocks.{i}", f"vision_model.encoder.layers.{i}")
    rules += [KeyRule(f"visual.ln_post.{p}", (f"vision_model.post_layernorm.{p}",)) for p in ("weight", "bias")]
    return rules


def convert_open_clip(
    state_dict: Mapping[str, Any],
    model_config: Mapping[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[CLIPTextModel, CLIPVisionModelWithProjection]:
    """Convert an open_clip ``CLIP`` state dict into the text encoder and the image encoder of the pipeline.

    Args:
        state_dict: open_clip weights (e.g. ``open_clip_pytorch_model.bin`` of ViT-H-14 laion2b_s32b_b79k).
        model_config: the open_clip model config; defaults to open_clip's bundled ``ViT-H-14`` config.
        dtype: cast the weights to this dtype.

    Raises:
        ValueError: a key is missing, unexpected or of another shape (report grouped by prefix), or the config has
            options these transformers classes cannot express.
    """
    state_dict = unwrap_state_dict(state_dict)
    text_config, vision_config = transformers_configs(model_config)
    text_layers = text_config.num_hidden_layers
    text_rules, vision_rules = _text_rules(text_layers), _vision_rules(vision_config.num_hidden_layers)

    text_encoder = CLIPTextModel(text_config)
    image_encoder = CLIPVisionModelWithProjection(vision_config)
    target_shapes = {f"text.{k}": v.shape for k, v in text_encoder.state_dict().items()}
    target_shapes.update({f"image.{k}": v.shape for k, v in image_encoder.state_dict().items()})
    rules = [KeyRule(r.source, tuple(f"text.{t}" for t in r.targets), r.transform) for r in text_rules]
    rules += [KeyRule(r.source, tuple(f"image.{t}" for t in r.targets), r.transform) for r in vision_rules]
    # Stored but unused: the last text block, the text projection, the logit scale, and (old open_clip versions
    # only) the causal-mask buffer.
    dropped = {rule.source for rule in _block_rules(f"transformer.resblocks.{text_layers}", "")}
    dropped |= {"text_projection", "logit_scale"} | ({"attn_mask"} & set(state_dict))
    weights = apply_rules(state_dict, rules, target_shapes, "open_clip state_dict", frozenset(dropped), dtype)
    text_weights = {k[len("text.") :]: v for k, v in weights.items() if k.startswith("text.")}
    vision_weights = {k[len("image.") :]: v for k, v in weights.items() if k.startswith("image.")}
    text_encoder.load_state_dict(text_weights, strict=True, assign=True)
    image_encoder.load_state_dict(vision_weights, strict=True, assign=True)
    return text_encoder.eval(), image_encoder.eval()


def build_open_clip_tokenizer(context_length: int = 77) -> CLIPTokenizer:
    """The OpenCLIP / Stable Diffusion 2.x BPE tokenizer from open_clip's bundled vocabulary (no download).

    Ids equal ``open_clip.tokenize`` including the zero padding; the padding token is ``"!"`` (id 0) registered as a
    single-word token, so only a ``"!"`` standing alone as a word is encoded differently (as in the SD 2.x tokenizer).
    """
    from open_clip.tokenizer import SimpleTokenizer

    bpe = SimpleTokenizer()
    vocab = dict(bpe.encoder)
    vocab["<|startoftext|>"] = vocab.pop("<start_of_text>")
    vocab["<|endoftext|>"] = vocab.pop("<end_of_text>")
    merges = sorted(bpe.bpe_ranks, key=bpe.bpe_ranks.get)
    tokenizer = CLIPTokenizer(
        vocab=vocab,
        merges=merges,
        model_max_length=context_length,
        pad_token=AddedToken("!", special=True, single_word=True),
    )
    if tokenizer.vocab_size != len(vocab) or tokenizer.pad_token_id != 0:  # transformers may ignore the vocabulary
        raise RuntimeError(f"CLIPTokenizer did not take the open_clip vocabulary (vocab size {tokenizer.vocab_size})")
    return tokenizer


def build_clip_image_processor(image_size: int = 224) -> CLIPImageProcessor:
    """open_clip's ViT-H-14 preprocessing: resize the short side (bicubic), centre crop, CLIP mean / std."""
    return CLIPImageProcessor(
        do_resize=True,
        size={"shortest_edge": image_size},
        resample=3,  # PIL.Image.BICUBIC
        do_center_crop=True,
        crop_size={"height": image_size, "width": image_size},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
        do_convert_rgb=True,
    )
