"""The whole original release -> one `VideoComposerPipeline` folder (safetensors, model_index.json, model card)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .atomic_folder import atomic_folder, check_output_folder
from .checkpoint import load_checkpoint

DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def check_dtype(dtype: str) -> torch.dtype:
    """``"fp32"`` / ``"fp16"`` -> the torch dtype."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype: expected one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[dtype]


def convert_release(
    unet: str | Path,
    sd_checkpoint: str | Path,
    open_clip: str | Path,
    output: str | Path,
    dtype: str = "fp32",
    original_config: Mapping[str, Any] | None = None,
    open_clip_config: Mapping[str, Any] | None = None,
    push_to_hub: str | None = None,
) -> Path:
    """Convert the release files into a folder that ``VideoComposerPipeline.from_pretrained(output)`` loads.

    Args:
        unet: ``non_ema_228000.pth`` (UNet + STC encoder, original layout).
        sd_checkpoint: ``v2-1_512-ema-pruned.ckpt`` (only ``first_stage_model.*``, the VAE, is used).
        open_clip: ``open_clip_pytorch_model.bin`` (OpenCLIP ViT-H-14): text and image encoders.
        output: a new folder; written under a temporary name and renamed at the end.
        dtype: ``"fp32"`` or ``"fp16"`` weights.
        original_config: original UNet constructor arguments that differ from the release (tests, other models).
        open_clip_config: open_clip model config (default: the bundled ViT-H-14 config).
        push_to_hub: a Hub repo id to upload the finished folder to.

    Each file is read memory-mapped and tensors-only (`load_checkpoint`); each model takes the tensors over without
    copying them (except for a dtype cast), so the 5.6 GB UNet file never needs more than about two copies in memory.
    """
    torch_dtype = check_dtype(dtype)
    output = check_output_folder(output)
    paths = {"unet": Path(unet), "sd_checkpoint": Path(sd_checkpoint), "open_clip": Path(open_clip)}
    for argument, path in paths.items():
        if not path.is_file():
            raise ValueError(f"{argument}: no such file {str(path)!r}")

    from diffusers import DDIMScheduler

    from pipelines.pipeline_videocomposer import ORIGINAL_SCHEDULER_CONFIG, VideoComposerPipeline

    from .model_card import render_model_card
    from .open_clip_to_transformers import (
        build_clip_image_processor,
        build_open_clip_tokenizer,
        convert_open_clip,
        default_open_clip_config,
    )
    from .original_unet import convert_original_unet
    from .sd_vae import convert_sd_vae

    open_clip_config = default_open_clip_config() if open_clip_config is None else open_clip_config
    unet_model, stc_encoder = convert_original_unet(
        load_checkpoint(paths["unet"], "unet"), original_config, torch_dtype
    )
    vae = convert_sd_vae(load_checkpoint(paths["sd_checkpoint"], "sd_checkpoint"), torch_dtype)
    text_encoder, image_encoder = convert_open_clip(
        load_checkpoint(paths["open_clip"], "open_clip"), open_clip_config, torch_dtype
    )
    pipeline = VideoComposerPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=build_open_clip_tokenizer(open_clip_config["text_cfg"]["context_length"]),
        unet=unet_model,
        stc_encoder=stc_encoder,
        scheduler=DDIMScheduler(**ORIGINAL_SCHEDULER_CONFIG),
        image_encoder=image_encoder,
        feature_extractor=build_clip_image_processor(open_clip_config["vision_cfg"]["image_size"]),
    )
    card = render_model_card(paths["unet"], paths["sd_checkpoint"], paths["open_clip"], stc_encoder.conditions, dtype)
    with atomic_folder(output) as staging:
        pipeline.save_pretrained(staging, safe_serialization=True)
        (staging / "README.md").write_text(card)
    if push_to_hub:
        upload_folder_to_hub(output, push_to_hub)
    return output


def upload_folder_to_hub(folder: Path, repo_id: str) -> None:
    """Create ``repo_id`` on the Hub (if needed) and upload ``folder`` as it is."""
    from huggingface_hub import create_repo, upload_folder

    create_repo(repo_id, exist_ok=True)
    upload_folder(repo_id=repo_id, folder_path=folder, commit_message="Add VideoComposer weights (diffusers format)")
