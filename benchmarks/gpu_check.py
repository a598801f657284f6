"""One-command GPU check of the release configuration (random weights; < 10 minutes on one GPU).

1. Parity across precisions: the release-size UNet + STC encoder (random weights, seeded) on the same inputs in fp32
   and in bf16 / fp16 (weights cast): relative error max|x - x_fp32| / max|x_fp32| of one forward and of a 10-step DDIM
   loop (latents), per dtype.
2. Attention backends: PyTorch SDPA (the default) vs xformers (`enable_xformers_memory_efficient_attention`) when it
   is installed: relative error and forward time.
3. Step time: one guided denoising step (batch 2) of ours (UNet + STC encoder with every release condition) vs
   diffusers' `UNet3DConditionModel` of the same dimensions (ModelScope's text-to-video UNet, the layers the original
   code's UNet is made of), same dtype, median over repetitions.
4. Peak memory of a 2-step generation through `VideoComposerPipeline` (release-size UNet, STC encoder, VAE and text
   encoder, random weights): all on the GPU vs `enable_model_cpu_offload()`.

Run: ``python benchmarks/gpu_check.py`` (writes its section of RESULTS.md with the card's name);
``python benchmarks/gpu_check.py --tiny --device cpu --no-write`` is the CPU smoke test (tiny dimensions; memory
is reported only on CUDA).
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_file import write_section  # noqa: E402

HEADING = "## gpu_check: precision parity, attention backends, step time vs diffusers, memory"
RELEASE_DIMS: dict = {}  # UNet3DConditionModel's defaults are the release dimensions (320, 640, 1280, 1280; 1024)
TINY_DIMS = {
    "block_out_channels": (32, 64),
    "down_block_types": ("CrossAttnDownBlock3D", "DownBlock3D"),
    "up_block_types": ("UpBlock3D", "CrossAttnUpBlock3D"),
    "layers_per_block": 1,
    "norm_num_groups": 16,
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
}
TINY_STC = {"condition_channels": {"motion": 2, "sketch": 1}, "hidden_channels": 8, "num_attention_heads": 2,
            "attention_head_dim": 8}  # fmt: skip


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    """max |value - reference| / max |reference|, in float32."""
    reference = reference.float()
    return float((value.float() - reference).abs().max() / reference.abs().max().clamp_min(1e-12))


def build_models(tiny: bool, seed: int = 0):
    """(diffusers UNet3DConditionModel, our UNet with the same weights, our STC encoder), fp32, random, eval."""
    from diffusers import UNet3DConditionModel

    from videocomposer.models import STCEncoder, VideoComposerUNet3DModel

    torch.manual_seed(seed)
    dims = TINY_DIMS if tiny else RELEASE_DIMS
    base = UNet3DConditionModel(**dims).eval()
    ours = VideoComposerUNet3DModel.from_unet3d(base, image_embed_dim=None).eval()
    stc = STCEncoder(**(TINY_STC if tiny else {})).eval()
    return base, ours, stc


def make_inputs(stc, frames: int, latent: int, context_dim: int, batch: int, device, seed: int = 0) -> dict:
    """Random latents, text context and one tensor per STC condition (at the video size x 1.5, motion at 1x)."""
    generator = torch.Generator().manual_seed(seed)
    size = 8 * latent
    conditions = {}
    for name, channels in stc.config.condition_channels.items():
        side = size if name == "motion" else round(1.5 * size)
        conditions[name] = torch.rand(batch, channels, frames, side, side, generator=generator)
    return {
        "sample": torch.randn(batch, 4, frames, latent, latent, generator=generator).to(device),
        "context": torch.randn(batch, 77, context_dim, generator=generator).to(device),
        "conditions": {name: value.to(device) for name, value in conditions.items()},
        "latent_size": (latent, latent),
    }


def our_step(ours, stc, inputs: dict, timestep: int = 500) -> torch.Tensor:
    dtype = ours.dtype
    conditions = {name: value.to(dtype) for name, value in inputs["conditions"].items()}
    condition_latents = stc(conditions, latent_size=inputs["latent_size"]).sample
    return ours(inputs["sample"].to(dtype), timestep, inputs["context"].to(dtype), condition_latents).sample


def ddim_loop(ours, stc, inputs: dict, steps: int = 10) -> torch.Tensor:
    """Latents after ``steps`` DDIM steps (no guidance) from ``inputs['sample']``, conditions encoded once."""
    from diffusers import DDIMScheduler

    from pipelines.pipeline_videocomposer import ORIGINAL_SCHEDULER_CONFIG

    scheduler = DDIMScheduler(**ORIGINAL_SCHEDULER_CONFIG)
    scheduler.set_timesteps(steps)
    dtype = ours.dtype
    conditions = {name: value.to(dtype) for name, value in inputs["conditions"].items()}
    condition_latents = stc(conditions, latent_size=inputs["latent_size"]).sample
    latents = inputs["sample"].to(dtype)
    for t in scheduler.timesteps:
        noise = ours(latents, t, inputs["context"].to(dtype), condition_latents).sample
        latents = scheduler.step(noise, t, latents).prev_sample
    return latents


def median_seconds(fn, repeats: int, device: torch.device) -> float:
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()  # warm-up
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def parity(base, ours, stc, inputs, device, dtypes) -> dict[str, dict[str, float]]:
    """Relative errors of one forward and of a DDIM loop per dtype, against fp32."""
    ours, stc = ours.to(device, torch.float32), stc.to(device, torch.float32)
    reference_step = our_step(ours, stc, inputs)
    reference_loop = ddim_loop(ours, stc, inputs)
    results = {}
    for name, dtype in dtypes.items():
        try:
            ours.to(dtype), stc.to(dtype)
            results[name] = {
                "step": relative_error(our_step(ours, stc, inputs), reference_step),
                "ddim": relative_error(ddim_loop(ours, stc, inputs), reference_loop),
            }
        except (RuntimeError, NotImplementedError) as error:  # e.g. a dtype without CPU kernels
            results[name] = {"error": str(error).splitlines()[0][:80]}
    ours.to(torch.float32), stc.to(torch.float32)
    return results


def attention_backends(ours, stc, inputs, device, dtype, repeats) -> dict[str, float] | str:
    """SDPA vs xformers: relative error and forward seconds (a string when xformers cannot run)."""
    try:
        import xformers  # noqa: F401
    except ImportError:
        return "xformers not installed"
    if device.type != "cuda":
        return "xformers needs CUDA"
    ours.to(device, dtype), stc.to(device, dtype)
    sdpa = our_step(ours, stc, inputs)
    sdpa_time = median_seconds(lambda: our_step(ours, stc, inputs), repeats, device)
    ours.enable_xformers_memory_efficient_attention()
    try:
        xformers_out = our_step(ours, stc, inputs)
        xformers_time = median_seconds(lambda: our_step(ours, stc, inputs), repeats, device)
    finally:
        ours.disable_xformers_memory_efficient_attention()
    return {"error": relative_error(xformers_out, sdpa), "sdpa_s": sdpa_time, "xformers_s": xformers_time}


def step_times(base, ours, stc, inputs, device, dtype, repeats) -> dict[str, float]:
    """Seconds of one guided step (batch 2): ours with the STC encoder, ours without conditions, diffusers."""
    base.to(device, dtype), ours.to(device, dtype), stc.to(device, dtype)
    sample, context = inputs["sample"].to(dtype), inputs["context"].to(dtype)
    return {
        "ours + STC": median_seconds(lambda: our_step(ours, stc, inputs), repeats, device),
        "ours": median_seconds(lambda: ours(sample, 500, context).sample, repeats, device),
        "diffusers": median_seconds(lambda: base(sample, 500, context).sample, repeats, device),
    }


def pipeline_memory(tiny: bool, device, dtype, frames: int, size: int) -> dict[str, float] | str:
    """Peak GPU memory (GiB) of a 2-step generation, all on the GPU vs model CPU offload."""
    if device.type != "cuda":
        return "CUDA only"
    from diffusers import AutoencoderKL, DDIMScheduler
    from transformers import CLIPTextConfig, CLIPTextModel

    from pipelines.pipeline_videocomposer import ORIGINAL_SCHEDULER_CONFIG, VideoComposerPipeline
    from videocomposer.demo.components import build_tokenizer

    tokenizer = build_tokenizer()  # a small offline vocabulary; the text encoder's size is the release one
    text_dims = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2) if tiny else \
        dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16)  # fmt: skip
    vae_channels = (16, 32, 64, 64) if tiny else (128, 256, 512, 512)
    results = {}
    for offload in (False, True):
        base, ours, stc = build_models(tiny)
        text = CLIPTextModel(CLIPTextConfig(vocab_size=tokenizer.vocab_size, max_position_embeddings=77, **text_dims))
        vae = AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                            block_out_channels=vae_channels, layers_per_block=2, latent_channels=4)  # fmt: skip
        pipe = VideoComposerPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=ours, stc_encoder=stc,
                                     scheduler=DDIMScheduler(**ORIGINAL_SCHEDULER_CONFIG)).to(dtype=dtype)  # fmt: skip
        pipe.set_progress_bar_config(disable=True)
        if offload:
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        motion = torch.rand(1, 2, frames, size, size)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        pipe("a red circle", motion_vectors=motion, num_frames=frames, height=size, width=size,
             num_inference_steps=2, output_type="latent")  # fmt: skip
        results["offload" if offload else "on GPU"] = torch.cuda.max_memory_allocated(device) / 2**30
        del pipe, base, ours, stc, text, vae
        torch.cuda.empty_cache()
    return results


def run_checks(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    base, ours, stc = build_models(args.tiny)
    latent, frames = (2, 2) if args.tiny else (args.size // 8, args.frames)
    context_dim = base.config.cross_attention_dim
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    fast = torch.float32 if device.type == "cpu" else torch.float16
    with torch.inference_mode():
        inputs = make_inputs(stc, frames, latent, context_dim, 1, device)
        batch2 = make_inputs(stc, frames, latent, context_dim, 2, device)
        results = {
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
            "size": f"{frames} frames, {8 * latent}x{8 * latent}",
            "parity": parity(base, ours, stc, inputs, device, dtypes),
            "attention": attention_backends(ours, stc, inputs, device, fast, args.repeats),
            "step_dtype": str(fast).replace("torch.", ""),
            "step": step_times(base, ours, stc, batch2, device, fast, args.repeats),
        }
        del base, ours, stc
        results["memory"] = pipeline_memory(args.tiny, device, fast, frames, 8 * latent)
    return results


def format_results(results: dict, command: str, seconds: float) -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"### {stamp}, {results['device']}, torch {torch.__version__}", "",
             f"{results['size']}, random weights; {seconds:.0f} s. Command: `{command}`", "",
             "| check | result |", "|---|---|"]  # fmt: skip
    for name, values in results["parity"].items():
        text = values.get("error") or f"one step {values['step']:.2e}, 10 DDIM steps {values['ddim']:.2e}"
        lines.append(f"| {name} vs fp32, max relative error | {text} |")
    attention = results["attention"]
    if isinstance(attention, dict):
        attention = (f"relative error {attention['error']:.2e}; SDPA {attention['sdpa_s'] * 1e3:.1f} ms, "
                     f"xformers {attention['xformers_s'] * 1e3:.1f} ms")  # fmt: skip
    lines.append(f"| SDPA vs xformers | {attention} |")
    step = results["step"]
    lines.append(
        f"| guided step (batch 2, {results['step_dtype']}) | ours + STC {step['ours + STC'] * 1e3:.1f} ms, ours "
        f"{step['ours'] * 1e3:.1f} ms, diffusers UNet3DConditionModel {step['diffusers'] * 1e3:.1f} ms (ours / "
        f"diffusers {step['ours'] / step['diffusers']:.2f}x) |"
    )
    memory = results["memory"]
    if isinstance(memory, dict):
        memory = f"{memory['on GPU']:.2f} GiB on the GPU, {memory['offload']:.2f} GiB with model CPU offload"
    lines.append(f"| peak memory, 2-step generation | {memory} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # casting random models with .to(dtype) is what this check is about
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny dimensions: the CPU smoke test")
    parser.add_argument("--frames", type=int, default=16, help="release check: frames (default 16)")
    parser.add_argument("--size", type=int, default=256, help="release check: video size (default 256)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (median)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write RESULTS.md")
    args = parser.parse_args(argv)
    if args.frames < 1 or args.size < 8 or args.size % 8 or args.repeats < 1:
        parser.error("--frames and --repeats must be positive, --size a positive multiple of 8")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available (use --device cpu)")
    start = time.time()
    results = run_checks(args)
    command = "python benchmarks/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = format_results(results, command.strip(), time.time() - start)
    print(text)
    if not args.no_write:
        write_section(HEADING, text)
    return results


if __name__ == "__main__":
    main()
