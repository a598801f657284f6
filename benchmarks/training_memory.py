"""Memory per GPU of the model states when training the release model (UNet + STC encoder, every parameter trained,
AdamW, bf16) with each config of examples/accelerate/, from parameter, gradient and optimizer sizes.

The models are built on the meta device (no memory, no weights): the parameter counts are exact. Activations are not
included (they depend on --gradient_checkpointing and the batch; at 16x256² the latents are 16x4x32x32 per clip).

    python benchmarks/training_memory.py [--gpus 2 4 8] [--ema]

Bytes per trained parameter, P trained parameters, N GPUs (ZeRO paper's accounting, K = 12 for mixed-precision Adam):
    ddp            fp32 weights 4 + fp32 grads 4 + Adam m, v 8                    = 16 P         on every GPU
    fsdp (FULL_SHARD, bf16 compute): the same 16 P sharded over N GPUs, plus the largest wrapped block gathered
                   in bf16 twice (the block computing and the prefetched one)   = 16 P / N + 2 * 2 B_max
    deepspeed_zero2  bf16 weights 2 (replicated) + (bf16 grads 2 + fp32 master 4 + Adam 8) / N = 2 P + 14 P / N
    deepspeed_zero3  (bf16 weights 2 + bf16 grads 2 + fp32 master 4 + Adam 8) / N                = 16 P / N
--ema adds an fp32 copy of the trained weights: 4 P (ddp, zero2: kept whole) or 4 P / N (fsdp, zero3: per shard).
Frozen models (VAE, OpenCLIP ViT-H text and image towers) are held whole in bf16 on every GPU.
"""

import argparse

import torch

GIB = 1024**3


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def release_models() -> dict[str, int]:
    """Parameter counts of every pipeline model at release size, and of the UNet's largest FSDP unit."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel, CLIPVisionModelWithProjection

    from videocomposer.conversion.open_clip_to_transformers import transformers_configs
    from videocomposer.models.stc_encoder import STCEncoder
    from videocomposer.models.unet_3d import VideoComposerUNet3DModel

    text_config, vision_config = transformers_configs()
    with torch.device("meta"):
        unet, stc = VideoComposerUNet3DModel(), STCEncoder()
        vae = AutoencoderKL(
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            latent_channels=4,
        )
        text, image = CLIPTextModel(text_config), CLIPVisionModelWithProjection(vision_config)
    blocks = [*unet.down_blocks, unet.mid_block, *unet.up_blocks]  # the fsdp.yaml wrap classes
    return {
        "trained": count(unet) + count(stc),
        "largest_block": max(count(block) for block in blocks),
        "frozen": count(vae) + count(text) + count(image),
    }


def model_state_bytes(config: str, trained: int, gpus: int, largest_block: int, ema: bool) -> float:
    """Bytes per GPU for the trained parameters' weights, gradients, optimizer states (and EMA)."""
    p, n = trained, gpus
    if config == "ddp":
        total = 16 * p + (4 * p if ema else 0)
    elif config == "fsdp":
        total = 16 * p / n + 2 * 2 * largest_block + (4 * p / n if ema else 0)
    elif config == "deepspeed_zero2":
        total = 2 * p + 14 * p / n + (4 * p if ema else 0)
    elif config == "deepspeed_zero3":
        total = 16 * p / n + (4 * p / n if ema else 0)
    else:
        raise ValueError(f"config: unknown {config!r}")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", type=int, nargs="+", default=[2, 4, 8], help="GPU counts (columns).")
    parser.add_argument("--ema", action="store_true", help="Include an fp32 EMA of the trained weights.")
    args = parser.parse_args()
    if any(g < 1 for g in args.gpus):
        parser.error(f"--gpus: expected positive integers, got {args.gpus}")
    sizes = release_models()
    frozen = 2 * sizes["frozen"]
    print(
        f"trained parameters (UNet + STC encoder): {sizes['trained']:,}; largest UNet block: "
        f"{sizes['largest_block']:,}; frozen (VAE + text + image encoder, bf16 on every GPU): {sizes['frozen']:,} "
        f"= {frozen / GIB:.2f} GiB; EMA: {'yes' if args.ema else 'no'}; activations not included"
    )
    header = "| config | " + " | ".join(f"{g} GPUs" for g in args.gpus) + " |"
    print(header)
    print("|---" * (len(args.gpus) + 1) + "|")
    for config in ("ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"):
        cells = [
            model_state_bytes(config, sizes["trained"], g, sizes["largest_block"], args.ema) + frozen
            for g in args.gpus
        ]
        print(f"| {config} | " + " | ".join(f"{c / GIB:.1f} GiB" for c in cells) + " |")


if __name__ == "__main__":
    main()
