"""Peak memory of one pipeline call with and without the memory options (attention slicing, VAE slicing / tiling).

Every variant runs in its own subprocess and reports the growth of its peak RSS (`VmHWM`, reset just before the call)
over its RSS before the call, i.e. the memory the call itself needed. Random weights at a size where the measured parts
dominate: 256x256 video (32x32 latents), 8 frames, classifier-free guidance, one denoising step.

    python benchmarks/bench_memory.py            # both groups: a table, ratios against each group's first row
    python benchmarks/bench_memory.py --group 0  # one group only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

#: group -> variant -> options; the first variant of a group is its baseline.
GROUPS = {
    "denoising only (output_type='latent')": {
        "SDPA attention (default)": ["latent"],
        "attention slicing 'max'": ["latent", "attention_slicing"],
        "plain attention (set_default_attn_processor)": ["latent", "plain_attention"],
        "plain attention + attention slicing 'max'": ["latent", "plain_attention", "attention_slicing"],
    },
    "whole call (denoising + VAE decode of 8 frames)": {
        "no option (whole-batch VAE decode)": [],
        "VAE slicing": ["vae_slicing"],
        "VAE tiling (128-pixel tiles)": ["vae_tiling"],
        "attention slicing + VAE slicing": ["attention_slicing", "vae_slicing"],
    },
}


def build_pipeline():
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from pipelines.pipeline_videocomposer import ORIGINAL_SCHEDULER_CONFIG, VideoComposerPipeline
    from videocomposer.models import STCEncoder, VideoComposerUNet3DModel

    torch.manual_seed(0)
    vocab = {c: i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")} | {"<|startoftext|>": 26, "<|endoftext|>": 27}
    vocab |= {f"{c}</w>": 28 + i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=16,
        )  # fmt: skip
    )
    unet = VideoComposerUNet3DModel(
        sample_size=32, num_frames=8, block_out_channels=(64, 128), layers_per_block=1, norm_num_groups=16,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=64, attention_head_dim=32, transformer_in_num_heads=2, image_embed_dim=None, dropout=0.0,
    )  # fmt: skip
    stc_encoder = STCEncoder(condition_channels={"depth": 1}, dropout=0.0)
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(32, 64, 128, 128), layers_per_block=1, norm_num_groups=16, sample_size=256,
    )  # fmt: skip
    pipe = VideoComposerPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, stc_encoder=stc_encoder,
        scheduler=DDIMScheduler(**ORIGINAL_SCHEDULER_CONFIG),
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe


def memory_kib(field: str) -> int:
    """`VmRSS` (now) or `VmHWM` (peak since the last reset) of this process, in KiB."""
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith(f"{field}:"))


def reset_peak() -> None:
    """Reset `VmHWM` to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def run_variant(options: list[str]) -> dict:
    import torch

    torch.set_num_threads(1)
    pipe = build_pipeline()
    if "plain_attention" in options:
        pipe.unet.set_default_attn_processor()
        pipe.stc_encoder.set_default_attn_processor()
    if "attention_slicing" in options:
        pipe.enable_attention_slicing("max")
    if "vae_slicing" in options:
        pipe.enable_vae_slicing()
    if "vae_tiling" in options:
        pipe.vae.tile_sample_min_size, pipe.vae.tile_latent_min_size = 128, 16
        pipe.enable_vae_tiling()
    depth = torch.rand(1, 1, 8, 256, 256, generator=torch.Generator().manual_seed(0)) * 10
    # a warm-up call at a tiny size loads the lazy kernels, so that the measured call's growth is its own
    pipe("a cat", depth=depth[..., :64, :64], height=64, width=64, num_inference_steps=1)
    before = memory_kib("VmRSS")
    reset_peak()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    output_type = "latent" if "latent" in options else "np"
    video = pipe(
        "a cat",
        depth=depth,
        num_inference_steps=1,
        output_type=output_type,
        generator=torch.Generator().manual_seed(0),
    ).frames
    after_cpu = resource.getrusage(resource.RUSAGE_SELF)
    peak = memory_kib("VmHWM")
    return {
        "shape": list(video.shape),
        "call_peak_mib": (peak - before) / 1024,
        "cpu_s": (after_cpu.ru_utime + after_cpu.ru_stime) - (cpu.ru_utime + cpu.ru_stime),
        "checksum": float(video.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", nargs="*", help=argparse.SUPPRESS)  # internal: run one variant, print JSON
    parser.add_argument("--group", choices=range(len(GROUPS)), type=int, help="run only this group (0 or 1)")
    args = parser.parse_args()
    if args.variant is not None:
        print(json.dumps(run_variant(args.variant)))
        return

    root = Path(__file__).resolve().parents[1]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    environment["OMP_NUM_THREADS"] = "1"
    print(
        "256x256 video (32x32 latents), 8 frames, 1 step with guidance; peak RSS growth of the call, each variant in"
    )
    print("its own process; ratios against the first row of each group")
    for index, (group, variants) in enumerate(GROUPS.items()):
        if args.group is not None and args.group != index:
            continue
        results = {}
        for name, options in variants.items():
            output = subprocess.run(
                [sys.executable, __file__, "--variant", *options], capture_output=True, text=True, env=environment
            )
            if output.returncode:
                raise SystemExit(f"{name} failed:\n{output.stderr[-2000:]}")
            results[name] = json.loads(output.stdout.strip().splitlines()[-1])
        baseline = next(iter(results.values()))["call_peak_mib"]
        print(f"\n{group}")
        print(f"  {'variant':50s} {'peak MiB':>9s} {'vs first':>9s} {'CPU s':>7s} {'output mean':>12s}")
        for name, result in results.items():
            print(
                f"  {name:50s} {result['call_peak_mib']:9.0f} {result['call_peak_mib'] / baseline:8.2f}x "
                f"{result['cpu_s']:7.1f} {result['checksum']:12.6f}"
            )


if __name__ == "__main__":
    main()
